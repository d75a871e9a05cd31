"""The demo tenant `make run` seeds: a customer, a team, a caseworker and an admin with TOTP
already enrolled, and an API token. Credentials are printed once, when created."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, date, datetime

import click
import segno

from dokportal.settings import Settings

DEMO_CUSTOMER = "123D000001"
DEMO_STAFF = "demo.sachbearbeitung"
DEMO_ADMIN = "demo.admin"
DEMO_TEAM = "team-1"


async def _demo_staff(
    settings: Settings, username: str, name: str, role: str, team_id: int | None
) -> list[str]:
    """A demo staff account with TOTP already enrolled; what to print, once."""
    from dokportal.accounts.passwords import hash_password
    from dokportal.crypto.keyring import Keyring
    from dokportal.staff import totp
    from dokportal.staff.tables import StaffAccount

    if await StaffAccount.exists().where(StaffAccount.username == username):
        return []
    password = secrets.token_urlsafe(12)
    secret = totp.new_secret()
    key_id, wrapped = totp.wrap(
        Keyring.load(settings.keyring_path), secret, settings.tenant.slug, username
    )
    await StaffAccount(
        username=username,
        display_name=name,
        role=role,
        team=team_id,
        password_hash=hash_password(password),
        totp_key_id=key_id,
        totp_wrapped=wrapped,
        totp_enrolled_at=datetime.now(UTC),
    ).save()
    uri = totp.provisioning_uri(secret, username, settings.tenant.name)
    lines = [
        f"Demo {role}:".ljust(19) + f"{username} / {password}  (shown once)",
        f"  TOTP secret:     {totp.as_base32(secret)}",
        f"  otpauth URI:     {uri}",
    ]
    if role == "caseworker":
        # Scan it from the terminal with the authenticator app.
        picture = io.StringIO()
        segno.make(uri, error="l").terminal(out=picture, compact=True)
        lines.append(picture.getvalue().rstrip("\n"))
    return lines


async def seed_demo(settings: Settings) -> tuple[str | None, list[str]]:
    from dokportal.accounts.services import issue_activation_code
    from dokportal.accounts.tables import Customer
    from dokportal.api.services import create_token
    from dokportal.api.tables import ApiToken
    from dokportal.staff.services import ensure_team

    team = await ensure_team(DEMO_TEAM, "Team 1 (Demo)")
    code: str | None = None
    customer = await Customer.objects().where(Customer.customer_number == DEMO_CUSTOMER).first()
    if customer is None:
        customer = Customer(
            customer_number=DEMO_CUSTOMER,
            display_name="Erika Mustermann",
            preferred_language=settings.tenant.default_language,
            email="erika.mustermann@example.org",
            date_of_birth=date(1980, 3, 31),
            team=team.id,
        )
        await customer.save()
    if customer.activated_at is None:
        code = await issue_activation_code(customer.id, settings.security.activation_code_days)
    lines = await _demo_staff(settings, DEMO_STAFF, "Demo Sachbearbeitung", "caseworker", team.id)
    lines += await _demo_staff(settings, DEMO_ADMIN, "Demo Admin", "admin", None)
    if not await ApiToken.exists().where(ApiToken.name == "Demo e-file"):
        token, _ = await create_token("Demo e-file", ["read", "acknowledge"], None)
        lines.append(f"Demo API token:    {token}  (read, acknowledge; shown once)")
    return code, lines


def print_demo(settings: Settings, code: str | None, staff_lines: list[str]) -> None:
    click.echo(f"Tenant:            {settings.tenant.name}")
    click.echo(f"Demo customer:     customer number {DEMO_CUSTOMER}")
    if code:
        click.echo(
            f"Activation code:   {code}   (one-time; open {settings.public_base_url}/activate)"
        )
    else:
        click.echo("                   already activated: sign in with the password you chose")
    for line in staff_lines:
        click.echo(line)
    if staff_lines:
        click.echo(
            f"Staff sign in at {settings.public_base_url}/staff/signin: add the TOTP secret to "
            "an authenticator app (or `oathtool --totp -b SECRET`)."
        )
    if settings.mail.kind == "folder":
        click.echo(
            f"Mail is written to {settings.mail.folder}/ (DOKPORTAL_MAIL__KIND=smtp to send)"
        )
