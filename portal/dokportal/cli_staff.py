"""``dokportal`` commands for the staff side: staff, tokens, audit, retention, worker.

Kept apart from cli.py so each stays small; :func:`register` adds them to the main group.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import click

from dokportal.settings import STAFF_ROLES, Settings

T = TypeVar("T")


def _setup() -> Settings:
    from dokportal import db
    from dokportal.cli import load_settings

    settings = load_settings()
    db.configure(settings)
    return settings


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@click.group()
def staff() -> None:
    """Staff accounts (caseworkers, team leads, admins)."""


@staff.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="Name shown in the workspace.")
@click.option("--role", type=click.Choice(STAFF_ROLES), default="caseworker", show_default=True)
@click.option("--team", default=None, help="Team slug (created if new); not needed for admins.")
@click.option("--email", default="")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given (use DOKPORTAL_STAFF_PASSWORD in scripts).",
    envvar="DOKPORTAL_STAFF_PASSWORD",
)
def staff_create(
    username: str, display_name: str, role: str, team: str | None, email: str, password: str
) -> None:
    """Create a local staff account; TOTP is set up at the first sign-in."""
    from dokportal.audit import record
    from dokportal.audit.services import Actor
    from dokportal.lib.errors import PortalError
    from dokportal.staff.services import create_staff

    settings = _setup()
    if len(password) < settings.security.password_min_length:
        raise click.BadParameter(
            f"at least {settings.security.password_min_length} characters", param_hint="password"
        )

    async def create() -> str:
        account = await create_staff(
            username=username,
            display_name=display_name,
            role=role,
            team_slug=team,
            password=password,
            email=email,
        )
        await record(Actor(kind="cli", id="dokportal"), "staff.created", "staff", account.username)
        return str(account.username)

    try:
        name = _run(create())
    except PortalError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created {role} {name}. Sign in at {settings.public_base_url}/staff/signin;")
    click.echo("the first sign-in sets up the authenticator app (TOTP) and recovery codes.")


@staff.command("reset-2fa")
@click.argument("username")
def staff_reset_2fa(username: str) -> None:
    """Forget a lost phone: the next sign-in sets up TOTP again. Ends all their sessions."""
    from dokportal.audit import record
    from dokportal.audit.services import Actor
    from dokportal.lib.errors import PortalError
    from dokportal.staff.services import reset_second_factor

    _setup()

    async def reset() -> None:
        account = await reset_second_factor(username)
        await record(
            Actor(kind="cli", id="dokportal"), "staff.totp_reset", "staff", account.username
        )

    try:
        _run(reset())
    except PortalError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Two-factor sign-in of {username} was reset; it is set up again at next sign-in.")


@click.group()
def token() -> None:
    """API tokens for the e-file export."""


@token.command("create")
@click.option("--name", required=True, help="Which integration uses it.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["read", "acknowledge"]))
def token_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from dokportal.api.services import create_token
    from dokportal.audit import record
    from dokportal.audit.services import Actor

    _setup()

    async def create() -> str:
        secret, row = await create_token(name, list(scopes or ("read",)), None)
        await record(Actor(kind="cli", id="dokportal"), "api.token_created", "api_token", row.id)
        return secret

    click.echo(_run(create()))


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; report the first broken link (exit 1) or 'intact'."""
    from dokportal.audit.services import verify_chain

    _setup()
    report = _run(verify_chain())
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} events")
        return
    click.echo(
        f"audit chain BROKEN at event {report.broken_seq}: {report.reason} "
        f"({report.checked} events before it are intact)",
        err=True,
    )
    sys.exit(1)


@click.group()
def retention() -> None:
    """Deleting transferred submissions."""


@retention.command("run")
@click.option("--days", type=int, default=None, help="Override the configured number of days.")
def retention_run(days: int | None) -> None:
    """Delete submissions transferred more than N days ago (blobs first, then rows)."""
    from dokportal.retention.services import run
    from dokportal.storage.factory import build_store

    settings = _setup()
    chosen = settings.retention.delete_transferred_after_days if days is None else days
    report = _run(run(build_store(settings.storage), chosen))
    click.echo(f"deleted {report.submissions} submissions ({report.blobs} blobs)")


@click.command("worker")
@click.option("--once", is_flag=True, help="One round, then exit (cron or tests).")
def worker(once: bool) -> None:
    """Virus scans left pending, PDF safe copies, mail delivery, reminders and retention
    (the server also runs this in-process)."""
    from dokportal import tasks
    from dokportal.crypto.keyring import Keyring
    from dokportal.storage.factory import build_store

    settings = _setup()
    store = build_store(settings.storage)
    keyring = Keyring.load(settings.keyring_path)
    if once:
        _run(tasks.run_once(settings, store, keyring))
        click.echo("done")
        return
    asyncio.run(tasks.loop(settings, store, keyring))


def register(main: click.Group) -> None:
    for command in (staff, token, audit, retention, worker):
        main.add_command(command)
