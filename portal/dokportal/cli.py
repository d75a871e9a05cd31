"""The ``dokportal`` command: run, serve, migrate, demo data, customers, notices, keys, storage;
staff, token, audit, retention and worker come from cli_staff.py; backup and restore from
cli_backup.py."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dokportal.demo import DEMO_CUSTOMER, DEMO_STAFF, print_demo, seed_demo
from dokportal.settings import Settings, describe_errors

if TYPE_CHECKING:
    from dokportal.crypto import Keyring

__all__ = ["DEMO_CUSTOMER", "DEMO_STAFF", "main"]

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def load_settings() -> Settings:
    """Settings from the environment; a local secret file fills in an empty session secret."""
    try:
        settings = Settings()
    except Exception as error:  # noqa: BLE001 - report every problem in one readable block
        click.echo("Dokportal cannot start: the configuration has problems:", err=True)
        for line in describe_errors(error):
            click.echo(f"  - {line}", err=True)
        sys.exit(2)
    if not settings.session_secret.get_secret_value():
        secret_file = settings.keyring_path.parent / "session-secret"
        if secret_file.exists():
            secret = secret_file.read_text().strip()
        else:
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_urlsafe(48)
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secret)
        settings = settings.model_copy(
            update={"session_secret": type(settings.session_secret)(secret)}
        )
    return settings


def ensure_keyring(settings: Settings) -> bool:
    """Create a keyring on first start of the embedded appliance. True when one was made."""
    from dokportal.crypto.keyring import Keyring

    if settings.keyring_path.exists():
        return False
    settings.keyring_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    Keyring.generate().save(settings.keyring_path)
    return True


def prepare_blob_folder(settings: Settings) -> None:
    """Create the blob folder of folder storage inside an existing parent (the volume).

    In a pod the volume is mounted at /data and the blobs live in /data/blobs, which nobody
    else creates: without this a fresh volume stays unready for ever. Only the last path
    element is made (0700): if the volume failed to mount, its mount point is missing (the
    image's root is read-only anyway) and readiness keeps reporting it, rather than documents
    going into a folder tree on the container's throw-away file system.
    """
    if settings.storage.kind != "folder":
        return
    folder = settings.storage.folder
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except FileNotFoundError:
        click.echo(f"blob folder {folder}: its parent {folder.parent} does not exist", err=True)
    except PermissionError as error:
        click.echo(f"blob folder {folder} cannot be created: {error.strerror}", err=True)


@click.group()
def main() -> None:
    """Dokportal: a document portal for jobcenters and other public offices."""
    # Everything this process creates (SQLite database, keyring, blobs, secrets, mail
    # files) is for this user only: names, dates of birth and documents live there.
    os.umask(0o077)


def _keyring_for_data(settings: Settings, *, create: bool) -> Keyring:
    """The keyring, checked against the database (see keyring_guard); exits 2 on a problem."""
    from dokportal.crypto import KeyringError
    from dokportal.keyring_guard import keyring_for_data

    try:
        keyring, created = _run(keyring_for_data(settings, create=create))
    except KeyringError as error:
        click.echo(f"Dokportal cannot start: {error}", err=True)
        sys.exit(2)
    if created:
        click.echo(f"Created a new keyring at {settings.keyring_path}")
    return keyring


@main.command()
def migrate() -> None:
    """Apply all pending database migrations (safe to run repeatedly)."""
    from dokportal import db

    settings = load_settings()
    prepare_blob_folder(settings)
    db.configure(settings)
    _run(db.migrate())


@main.command()
def demo() -> None:
    """Seed the demo customer and staff; print a fresh activation code if needed."""
    from dokportal import db

    settings = load_settings()
    db.configure(settings)
    _keyring_for_data(settings, create=True)
    code, staff_lines = _run(seed_demo(settings))
    print_demo(settings, code, staff_lines)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("PORT", "8000")), type=int)
def run(host: str, port: int) -> None:
    """The embedded appliance: keyring, migrations, demo data, then serve."""
    from dokportal import db

    settings = load_settings()
    if settings.public_base_url == "http://127.0.0.1:8000" and port != 8000:
        settings = settings.model_copy(update={"public_base_url": f"http://{host}:{port}"})
    if settings.storage.kind == "folder":
        settings.storage.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    db.configure(settings)
    _run(db.migrate())
    # After the migrations: only then can the database say whether it holds wrapped data.
    keyring = _keyring_for_data(settings, create=True)
    code, staff_lines = _run(seed_demo(settings))
    click.echo("")
    print_demo(settings, code, staff_lines)
    click.echo(f"\nDokportal is running at {settings.public_base_url}  (Ctrl+C stops it)\n")
    _serve(settings, host, port, keyring)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("PORT", "8000")), type=int)
def serve(host: str, port: int) -> None:
    """Serve the portal (expects migrations to have run)."""
    from dokportal import db
    from dokportal.crypto import Keyring, KeyringError
    from dokportal.keyring_guard import check_permissions

    settings = load_settings()
    prepare_blob_folder(settings)
    db.configure(settings)
    try:
        keyring = _run(_checked_keyring(settings))
    except KeyringError as error:
        click.echo(f"Dokportal cannot start: {error}", err=True)
        sys.exit(2)
    except Exception as error:  # noqa: BLE001 - the database is down: it may come back
        # With the keyring file present the database check is advice, not a condition:
        # a replica must be able to start (and wait unready) while PostgreSQL restarts.
        click.echo(f"Could not compare the keyring with the database: {error!r}", err=True)
        check_permissions(settings.keyring_path, allow_shared=settings.keyring_allow_shared)
        keyring = Keyring.load(settings.keyring_path)
    _serve(settings, host, port, keyring)


async def _checked_keyring(settings: Settings) -> Keyring:
    from dokportal.crypto import KeyringError
    from dokportal.keyring_guard import keyring_for_data

    try:
        keyring, _ = await keyring_for_data(settings, create=False)
    except KeyringError:
        raise
    except Exception:
        if not settings.keyring_path.exists():
            # The database cannot say which keys it needs; without a keyring nothing runs.
            raise KeyringError(f"keyring file {settings.keyring_path} does not exist") from None
        raise
    return keyring


def _serve(settings: Settings, host: str, port: int, keyring: Keyring) -> None:
    import json
    import logging

    import uvicorn

    from dokportal import logs
    from dokportal.app import create_app
    from dokportal.crypto import KeyringError
    from dokportal.lib.http_protocol import guarded_protocol

    logs.configure(settings.log_level, settings.log.format, settings.tenant.slug)
    # The effective configuration once, secrets masked, so operators can see what runs.
    logging.getLogger("dokportal").info("configuration: %s", json.dumps(settings.redacted()))
    try:
        app = create_app(settings, keyring=keyring)
    except (KeyringError, ValueError) as error:
        click.echo(f"Dokportal cannot start: {error}", err=True)
        sys.exit(2)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        # Our handler and format (dokportal/logs.py) for uvicorn's lines too; its access
        # log (raw paths and query strings) stays off, dokportal.access replaces it.
        log_config=None,
        access_log=False,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        server_header=False,
        timeout_keep_alive=5,
        # Head size, idle and minimum-rate limits uvicorn's own protocol lacks (issue 12).
        http=guarded_protocol(settings.server),
    )


@main.group()
def customer() -> None:
    """Customer accounts."""


@customer.command("create")
@click.option("--number", required=True, help="Customer number (Kundennummer).")
@click.option("--name", required=True, help="Name shown to the customer.")
@click.option("--language", default=None, help="Preferred language (de, en, uk, ar, tr, ru, fa).")
@click.option(
    "--team",
    default=None,
    help="Slug of the team in charge (an existing team; default: DOKPORTAL_TENANT__DEFAULT_TEAM).",
)
def customer_create(number: str, name: str, language: str | None, team: str | None) -> None:
    """Create a customer in a team and print a one-time activation code."""
    from dokportal import db
    from dokportal.accounts.services import issue_activation_code
    from dokportal.accounts.tables import Customer
    from dokportal.staff.services import ensure_team
    from dokportal.staff.tables import Team

    settings = load_settings()
    db.configure(settings)
    lang = language or settings.tenant.default_language
    if lang not in settings.tenant.languages:
        raise click.BadParameter(
            f"{lang!r} is not enabled; choose from {', '.join(settings.tenant.languages)}"
        )

    async def create() -> str:
        if await Customer.exists().where(Customer.customer_number == number):
            raise click.ClickException(f"customer {number} already exists")
        if team is None:
            # Every customer is in some team's inbox: the default team, made if missing.
            in_charge = await ensure_team(settings.tenant.default_team)
        else:
            found = await Team.objects().where(Team.slug == team).first()
            if found is None:
                known = ", ".join(row["slug"] for row in await Team.select(Team.slug)) or "none"
                raise click.ClickException(f"no team {team!r} (teams: {known})")
            in_charge = found
        row = Customer(
            customer_number=number,
            display_name=name,
            preferred_language=lang,
            team=in_charge.id,
        )
        await row.save()
        return await issue_activation_code(row.id, settings.security.activation_code_days)

    click.echo(f"Activation code for {number}: {_run(create())}")


@customer.command("code")
@click.argument("number")
def customer_code(number: str) -> None:
    """Issue a new activation code (earlier codes stop working)."""
    from dokportal import db
    from dokportal.accounts.services import issue_activation_code
    from dokportal.accounts.tables import Customer

    settings = load_settings()
    db.configure(settings)

    async def reissue() -> str:
        row = await Customer.objects().where(Customer.customer_number == number).first()
        if row is None:
            raise click.ClickException(f"no customer {number}")
        return await issue_activation_code(row.id, settings.security.activation_code_days)

    click.echo(f"Activation code for {number}: {_run(reissue())}")


@main.group()
def notice() -> None:
    """Notices (Bescheide) for customers."""


@notice.command("send")
@click.option("--customer", "customer_number", required=True, help="Customer number.")
@click.option("--title", default=None, help="Title shown in the inbox (default: file name).")
@click.argument("pdf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def notice_send(customer_number: str, title: str | None, pdf: Path) -> None:
    """Put a PDF notice into a customer's inbox (encrypted like every upload)."""
    from dokportal import db
    from dokportal.audit import Actor
    from dokportal.crypto.keyring import Keyring
    from dokportal.files import FileIngest, Ingested, scanning
    from dokportal.lib.errors import PortalError
    from dokportal.lib.formatting import file_size
    from dokportal.notices.services import PDF_ONLY, send_notice
    from dokportal.storage.factory import build_store

    settings = load_settings()
    db.configure(settings)
    keyring = Keyring.load(settings.keyring_path)
    store = build_store(settings.storage)

    async def chunks() -> AsyncIterator[bytes]:
        with pdf.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                yield block

    ingest = FileIngest(
        store=store,
        keyring=keyring,
        tenant=settings.tenant.slug,
        filename=pdf.name,
        max_bytes=settings.upload.max_file_bytes,
        max_words=file_size(settings.upload.max_file_bytes, "en"),
        allowed=PDF_ONLY,
    )

    async def scan(ingested: Ingested) -> str:
        return await scanning.scan_before_recording(
            settings,
            store,
            keyring,
            ingested,
            actor=Actor(kind="cli", id="dokportal"),
            subject=("customer", customer_number),
        )

    try:
        row = _run(
            send_notice(
                customer_number=customer_number,
                title=title or pdf.stem,
                filename=pdf.name,
                chunks=chunks(),
                ingest=ingest,
                store=store,
                scan=scan,
            )
        )
    except PortalError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Notice {row.id} is in the inbox of customer {customer_number}.")


@main.group()
def storage() -> None:
    """The blob store."""


@storage.command("sweep")
@click.option("--grace-minutes", default=60, show_default=True, help="Leave younger blobs alone.")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
def storage_sweep(grace_minutes: int, dry_run: bool) -> None:
    """Remove blobs that no database row refers to (left by a crash mid-upload)."""
    from dokportal import db
    from dokportal.files.sweeper import sweep
    from dokportal.storage.factory import build_store

    settings = load_settings()
    db.configure(settings)
    report = _run(
        sweep(build_store(settings.storage), timedelta(minutes=grace_minutes), dry_run=dry_run)
    )
    verb = "would remove" if dry_run else "removed"
    click.echo(f"examined {report.examined} blobs, {verb} {report.removed} orphans")


@main.group()
def keys() -> None:
    """The tenant keyring."""


@keys.command("init")
def keys_init() -> None:
    """Create a keyring at DOKPORTAL_KEYRING_PATH if there is none."""
    settings = load_settings()
    if ensure_keyring(settings):
        click.echo(f"created {settings.keyring_path}")
    else:
        click.echo(f"{settings.keyring_path} exists; left unchanged")


@keys.command("list")
def keys_list() -> None:
    """Show key ids (never key material) and which one is primary."""
    from dokportal.crypto.keyring import Keyring

    ring = Keyring.load(load_settings().keyring_path)
    for key_id in ring.ids:
        click.echo(f"{key_id}{'  (primary)' if key_id == ring.primary_id else ''}")


@keys.command("rewrap")
def keys_rewrap() -> None:
    """Rewrap every wrapped secret with the primary key (after a rotation; safe to repeat).

    Stored files (uploads and notices) and staff TOTP secrets alike: see wrapped_secrets.py.
    """
    from dokportal import db
    from dokportal.crypto.keyring import Keyring
    from dokportal.wrapped_secrets import rewrap_all

    settings = load_settings()
    db.configure(settings)
    keyring = Keyring.load(settings.keyring_path)
    counts = _run(rewrap_all(keyring, settings.tenant.slug))
    for count in counts:
        click.echo(
            f"{count.label}: examined {count.examined}, rewrapped {count.rewrapped} "
            f"to key {keyring.primary_id}"
        )


def _register_staff_commands() -> None:
    from dokportal.cli_staff import register

    register(main)
    from dokportal.cli_scan import scan

    main.add_command(scan)
    from dokportal.cli_backup import backup, restore

    main.add_command(backup)
    main.add_command(restore)


_register_staff_commands()
