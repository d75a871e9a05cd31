"""Online access requests: one answer for everyone, a letter (or a link) only on a match."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from dokportal import tasks
from dokportal.accounts.tables import AccessRequest, Customer
from dokportal.audit.tables import AuditEvent
from dokportal.settings import Settings
from dokportal.staff.services import ensure_team
from dokportal.storage.factory import build_store
from tests.portal.conftest import PASSWORD, PortalClient, csrf_of
from tests.portal.integration.staff.conftest import (
    make_staff,
    smtp_settings,
    staff_cookies,
    use,
)
from tests.support.mailserver import Mailbox


async def _customer(email: str = "") -> Customer:
    team = await ensure_team("team-a")
    row = Customer(
        customer_number="789C000001",
        display_name="Ahmad Karimi",
        preferred_language="fa",
        date_of_birth=date(1985, 1, 2),
        email=email,
        team=team.id,
    )
    await row.save()
    return row


async def _ask(client: PortalClient, number: str, name: str, birth: str) -> str:
    token = await csrf_of(client, "/access")
    response = await client.post(
        "/access",
        data={"_csrf": token, "customer_number": number, "name": name, "date_of_birth": birth},
    )
    assert response.status_code == 200
    start = response.text.index("<main")
    return response.text[start : response.text.index("</main>")].replace(token, "")


async def test_same_answer_whether_or_not_it_matched(
    client: PortalClient, settings: Settings
) -> None:
    await _customer()
    matched = await _ask(client, "789C000001", "  ahmad   KARIMI ", "1985-01-02")
    wrong_name = await _ask(client, "789C000001", "Someone Else", "1985-01-02")
    unknown = await _ask(client, "000X000000", "Ahmad Karimi", "1985-01-02")
    bad_date = await _ask(client, "789C000001", "Ahmad Karimi", "02.01.1985")
    assert matched == wrong_name == unknown == bad_date
    requests = await AccessRequest.objects()
    assert len(requests) == 1 and requests[0].channel == "letter"
    actions = [e.action for e in await AuditEvent.objects().order_by(AuditEvent.seq)]
    assert actions.count("access_request.matched") == 1
    assert actions.count("access_request.unmatched") == 3
    # The team sees a letter to send.
    member = await make_staff(settings, "anna", "caseworker", "team-a")
    use(client, await staff_cookies(settings, member))
    queue = await client.get("/staff/access-requests")
    assert "Ahmad Karimi" in queue.text and "letter to send" in queue.text


async def test_requests_are_throttled(client: PortalClient, settings: Settings) -> None:
    for _ in range(settings.security.client_attempts_per_window):
        await _ask(client, "000X000000", "Nobody", "2000-01-01")
    token = await csrf_of(client, "/access")
    response = await client.post(
        "/access",
        data={"_csrf": token, "customer_number": "1", "name": "x", "date_of_birth": "2000-01-01"},
    )
    assert response.status_code == 429


async def test_one_time_link_by_mail_where_allowed(
    client: PortalClient, settings: Settings, mailbox: Mailbox
) -> None:
    await _customer(email="ahmad@example.org")
    live = smtp_settings(settings, mailbox)
    live = live.model_copy(
        update={"delivery": live.delivery.model_copy(update={"activation_links_by_mail": True})}
    )
    from dokportal.app import create_app
    from tests.portal.conftest import portal_client

    async with portal_client(create_app(live)) as other:
        await _ask(other, "789C000001", "Ahmad Karimi", "1985-01-02")
        await tasks.run_once(live, build_store(live.storage))
        assert len(mailbox.messages) == 1
        body = mailbox.messages[0].get_content()
        link = next(line for line in body.splitlines() if "/activate?" in line).strip()
        target = urlsplit(link)
        form = await other.get(f"{target.path}?{target.query}")
        assert "789C000001" in form.text
        code = dict(part.split("=") for part in target.query.split("&"))["code"]
        token = await csrf_of(other, "/activate")
        activated = await other.post(
            "/activate",
            data={
                "_csrf": token,
                "customer_number": "789C000001",
                "code": code,
                "password": PASSWORD,
                "password_repeat": PASSWORD,
            },
        )
        assert activated.status_code == 303
    row = await AccessRequest.objects().first()
    assert row is not None and row.channel == "mail"
