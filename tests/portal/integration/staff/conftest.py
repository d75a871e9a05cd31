"""Staff-side fixtures: two teams, staff of every role, sign-in helpers, a real SMTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pyotp
import pytest

from dokportal.accounts.tables import Customer
from dokportal.crypto import Keyring
from dokportal.settings import Settings
from dokportal.staff import services, totp
from dokportal.staff.services import FULL
from dokportal.staff.tables import StaffAccount
from tests.portal.conftest import PortalClient, csrf_of
from tests.support import documents
from tests.support.mailserver import Mailbox, running_mailbox

STAFF_PASSWORD = "Arbeitsplatz-2026!"
REFERENCE_RE = re.compile(r"/documents/(BG-\d{4}-\d{6})")


@dataclass
class StaffMember:
    username: str
    id: int
    secret: bytes

    def code(self, step: int | None = None) -> str:
        return totp.code_at(self.secret, totp.current_step() if step is None else step)


async def make_staff(
    settings: Settings, username: str, role: str, team: str | None, *, enrolled: bool = True
) -> StaffMember:
    account = await services.create_staff(
        username=username,
        display_name=username.title(),
        role=role,
        team_slug=team,
        password=STAFF_PASSWORD,
    )
    secret = b""
    if enrolled:
        secret = totp.new_secret()
        key_id, wrapped = totp.wrap(
            Keyring.load(settings.keyring_path), secret, settings.tenant.slug, account.username
        )
        from datetime import UTC, datetime

        await StaffAccount.update(
            {
                StaffAccount.totp_key_id: key_id,
                StaffAccount.totp_wrapped: wrapped,
                StaffAccount.totp_enrolled_at: datetime.now(UTC),
            }
        ).where(StaffAccount.id == account.id)
    return StaffMember(username=account.username, id=account.id, secret=secret)


async def staff_cookies(settings: Settings, member: StaffMember) -> dict[str, str]:
    """A full staff session without the UI (the sign-in tests drive the real pages)."""
    token = await services.start_session(member.id, FULL, "local", settings.staff)
    return {"staff": token}


def use(client: PortalClient, cookies: dict[str, str]) -> None:
    client.cookies.clear()
    for name, value in cookies.items():
        client.cookies.set(name, value)


async def staff_post(
    client: PortalClient, path: str, data: dict[str, str], page: str = "/staff/signin"
) -> httpx.Response:
    token = await csrf_of(client, page)
    return await client.post(path, data={"_csrf": token, **data})


async def upload(client: PortalClient, *files: tuple[str, bytes, str]) -> str:
    """As the signed-in customer: send files; returns the reference number."""
    token = await csrf_of(client, "/documents/new")
    response = await client.post(
        "/documents",
        data={"_csrf": token, "category": "payslip", "message": "Anbei"},
        files=[("files", item) for item in files]
        or [("files", ("a.pdf", documents.pdf(), "application/pdf"))],
    )
    assert response.status_code == 303, response.text
    match = REFERENCE_RE.search(response.headers["location"])
    assert match
    return match.group(1)


async def put_in_team(number: str, team_slug: str) -> None:
    from dokportal.staff.tables import Team

    team = await Team.objects().where(Team.slug == team_slug).first()
    assert team is not None
    await Customer.update({Customer.team: team.id}).where(Customer.customer_number == number)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with running_mailbox() as box:
        yield box


def smtp_settings(settings: Settings, box: Mailbox, **mail: object) -> Settings:
    values: dict[str, object] = {
        "kind": "smtp",
        "host": box.host,
        "port": box.port,
        "security": "none",
        "sender": "portal@jobcenter.example",
        "backoff_seconds": 60,
        "max_attempts": 3,
    }
    values.update(mail)
    return settings.model_copy(update={"mail": settings.mail.model_copy(update=values)})


def totp_now(secret: bytes) -> str:
    return pyotp.TOTP(totp.as_base32(secret)).now()
