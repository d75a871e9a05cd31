"""Customers for the team, the activation letter, notices with proof of delivery, mail."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pypdf import PdfReader

from dokportal import tasks
from dokportal.accounts.tables import Customer
from dokportal.app import create_app
from dokportal.mail.tables import MailJob
from dokportal.notices.delivery import deemed_received
from dokportal.notices.tables import Notice
from dokportal.settings import Settings
from dokportal.storage.factory import build_store
from tests.portal.conftest import (
    PASSWORD,
    Person,
    PortalClient,
    _empty_tables,
    activate,
    csrf_of,
    make_settings,
    portal_client,
    sign_in,
)
from tests.portal.integration.staff.conftest import (
    make_staff,
    staff_cookies,
    staff_post,
    use,
)
from tests.support import documents
from tests.support.mailserver import Mailbox

CODE_RE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


async def _lead(client: PortalClient, settings: Settings) -> dict[str, str]:
    from dokportal.staff.tables import StaffAccount
    from tests.portal.integration.staff.conftest import StaffMember

    row = await StaffAccount.objects().where(StaffAccount.username == "lena").first()
    if row is None:
        member = await make_staff(settings, "lena", "team_lead", "team-a")
    else:
        member = StaffMember(username="lena", id=row.id, secret=b"")
    cookies = await staff_cookies(settings, member)
    use(client, cookies)
    return cookies


async def _create(client: PortalClient, **fields: str):  # type: ignore[no-untyped-def]
    data = {"number": "456B000001", "name": "Olena Kovalenko", "language": "uk"}
    data.update(fields)
    return await staff_post(client, "/staff/customers", data, "/staff/customers/new")


async def _letter_code(client: PortalClient, number: str) -> tuple[str, str]:
    response = await staff_post(
        client, f"/staff/customers/{number}/letter", {}, f"/staff/customers/{number}"
    )
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    match = CODE_RE.search(text)
    assert match, text
    return match.group(0), text


async def test_create_customer_print_letter_and_activate(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path, database_url, tenant={"letterhead": "Bergstraße 1 | 64283 Darmstadt"}
    )
    await _empty_tables()
    async with portal_client(create_app(settings)) as client:
        await _letter_flow(client, settings)


async def _letter_flow(client: PortalClient, settings: Settings) -> None:
    staff = await _lead(client, settings)
    created = await _create(client, email="olena@example.org", date_of_birth="1990-05-17")
    assert created.status_code == 303
    assert created.headers["location"] == "/staff/customers/456B000001?created=1"
    code, text = await _letter_code(client, "456B000001")
    assert "Kundennummer" in text and "456B000001" in text
    assert "64283 Darmstadt" in text
    assert "/activate" in text
    assert "Введіть" in text  # the Ukrainian instructions, next to the German ones
    # A second letter: the first code stops working.
    second, _ = await _letter_code(client, "456B000001")
    client.cookies.clear()
    stale = await activate(client, Person(number="456B000001", code=code, id=0))
    assert stale.status_code == 400
    fresh = await activate(client, Person(number="456B000001", code=second, id=0))
    assert fresh.status_code == 303
    # Once activated, no more letters.
    use(client, staff)
    refused = await staff_post(
        client, "/staff/customers/456B000001/letter", {}, "/staff/customers/456B000001"
    )
    assert refused.status_code == 400


async def test_bad_customer_input_stores_nothing(client: PortalClient, settings: Settings) -> None:
    await _lead(client, settings)
    bad = await _create(client, number="x", name="", email="nope", date_of_birth="31.12.1990")
    assert bad.status_code == 400
    for words in ("4 to 32 letters", "enter the customer", "does not look right", "1980-03-31"):
        assert words in bad.text
    assert await Customer.count() == 0
    assert (await _create(client)).status_code == 303
    duplicate = await _create(client)
    assert duplicate.status_code == 400 and "already exists" in duplicate.text
    assert await Customer.count() == 1


async def test_lock_and_unlock(client: PortalClient, customer: Person, settings: Settings) -> None:
    customer_cookies = dict(client.cookies)
    from tests.portal.integration.staff.conftest import put_in_team

    await make_staff(settings, "x", "caseworker", "team-a")  # creates team-a
    await put_in_team(customer.number, "team-a")
    staff = await _lead(client, settings)
    page = f"/staff/customers/{customer.number}"
    assert (await staff_post(client, f"{page}/lock", {}, page)).status_code == 303
    use(client, customer_cookies)
    assert (await client.get("/")).status_code == 303
    client.cookies.clear()
    locked = await sign_in(client, customer.number)
    assert locked.status_code == 401 and "locked" in locked.text
    use(client, staff)
    assert (await staff_post(client, f"{page}/unlock", {}, page)).status_code == 303
    client.cookies.clear()
    assert (await sign_in(client, customer.number, PASSWORD)).status_code == 303


async def _consent(client: PortalClient, give: bool = True) -> None:
    token = await csrf_of(client, "/profile")
    response = await client.post(
        "/profile/consent", data={"_csrf": token, "consent": "1" if give else "0"}
    )
    assert response.status_code == 303


async def _send_notice(client: PortalClient, number: str, title: str, content: bytes):  # type: ignore[no-untyped-def]
    token = await csrf_of(client, f"/staff/customers/{number}")
    return await client.post(
        f"/staff/customers/{number}/notices",
        data={"_csrf": token, "title": title, "message": "Bitte lesen"},
        files=[("file", ("bescheid.pdf", content, "application/pdf"))],
    )


async def _customer_in_team(client: PortalClient, customer: Person, email: str = "") -> None:
    from dokportal.staff.services import ensure_team
    from tests.portal.integration.staff.conftest import put_in_team

    await ensure_team("team-a")
    await put_in_team(customer.number, "team-a")
    if email:
        await Customer.update({Customer.email: email}).where(
            Customer.customer_number == customer.number
        )


async def test_notice_with_consent_mail_opened_and_deemed_received(
    client: PortalClient, customer: Person, settings: Settings, mailbox: Mailbox
) -> None:
    from tests.portal.integration.staff.conftest import smtp_settings

    await _customer_in_team(client, customer, email="erika@example.org")
    await _consent(client)
    customer_cookies = dict(client.cookies)
    await _lead(client, settings)
    content = documents.pdf("Bewilligungsbescheid")
    sent = await _send_notice(client, customer.number, "Bewilligungsbescheid Juli", content)
    assert sent.status_code == 303 and sent.headers["location"].endswith("?sent=electronic")
    notice = await Notice.objects().first()
    assert notice is not None and notice.delivery == "electronic" and notice.notified_at is None

    live = smtp_settings(settings, mailbox)
    await tasks.run_once(live, build_store(live.storage))
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["To"] == "erika@example.org"
    body = mail.get_content()
    assert "Bewilligungsbescheid" not in body and "Bewilligungsbescheid" not in mail["Subject"]
    assert f"{settings.public_base_url}/notices" in body
    notified = await Notice.objects().where(Notice.id == notice.id).first()
    assert notified is not None and notified.notified_at is not None
    assert notified.deemed_received_on == deemed_received(
        notified.notified_at, 4, settings.tenant.timezone
    )
    assert (notified.deemed_received_on - notified.notified_at.date()).days in (4, 5)

    use(client, customer_cookies)
    assert (await client.get(f"/notices/{notice.id}")).status_code == 200
    assert (await client.get(f"/notices/{notice.id}/file")).content == content
    opened = await Notice.objects().where(Notice.id == notice.id).first()
    assert opened is not None and opened.read_at is not None and opened.downloaded_at is not None

    await _lead(client, settings)
    overview = await client.get("/staff/notices")
    assert "Bewilligungsbescheid Juli" in overview.text
    assert str(notified.deemed_received_on) in overview.text
    assert "Send by post" not in overview.text


async def test_without_consent_the_notice_goes_by_post_and_no_mail(
    client: PortalClient, customer: Person, settings: Settings, mailbox: Mailbox
) -> None:
    from tests.portal.integration.staff.conftest import smtp_settings

    await _customer_in_team(client, customer, email="erika@example.org")
    await _consent(client, True)
    await _consent(client, False)  # revoked again
    row = await Customer.objects().where(Customer.customer_number == customer.number).first()
    assert row is not None and row.e_delivery_consent_at is None
    await _lead(client, settings)
    sent = await _send_notice(client, customer.number, "Aufhebungsbescheid", documents.pdf())
    assert sent.headers["location"].endswith("?sent=post")
    live = smtp_settings(settings, mailbox)
    await tasks.run_once(live, build_store(live.storage))
    assert mailbox.messages == []
    assert await MailJob.count() == 0
    assert "Send by post" in (await client.get("/staff/notices")).text


async def test_notice_upload_rejects_bad_files_and_stores_nothing(
    client: PortalClient, customer: Person, settings: Settings
) -> None:
    await _customer_in_team(client, customer)
    await _lead(client, settings)
    photo = await _send_notice(client, customer.number, "Foto", documents.jpeg())
    assert photo.status_code == 415
    # The caseworker's notice goes through the same content check as every upload.
    truncated = await _send_notice(client, customer.number, "Kaputt", documents.pdf()[:-40])
    assert truncated.status_code == 415 and "damaged or incomplete" in truncated.text
    untitled = await _send_notice(client, customer.number, "  ", documents.pdf())
    assert untitled.status_code == 400
    forged = await client.post(
        f"/staff/customers/{customer.number}/notices",
        data={"_csrf": "0" * 64, "title": "x"},
        files=[("file", ("b.pdf", documents.pdf(), "application/pdf"))],
    )
    assert forged.status_code == 403
    assert await Notice.count() == 0
    # The customer fixture uploaded nothing: any blob here would be a leak.
    assert [p for p in settings.storage.folder.rglob("*") if p.is_file()] == []


async def test_mail_failures_retry_with_backoff_and_stay_visible(
    client: PortalClient, customer: Person, settings: Settings, mailbox: Mailbox
) -> None:
    from tests.portal.integration.staff.conftest import smtp_settings

    await _customer_in_team(client, customer, email="erika@example.org")
    await _consent(client)
    await _lead(client, settings)
    await _send_notice(client, customer.number, "Bescheid", documents.pdf())
    live = smtp_settings(settings, mailbox, max_attempts=2)
    store = build_store(live.storage)
    mailbox.refuse = 5
    await tasks.run_once(live, store)
    job = await MailJob.objects().first()
    assert job is not None and job.status == "pending" and job.attempts == 1
    assert job.next_attempt_at > datetime.now(UTC) + timedelta(seconds=30)
    page = await client.get("/staff/notices")
    assert "1 failed attempts, retrying" in page.text
    await tasks.run_once(live, store)  # not due yet: nothing happens
    assert (await MailJob.objects().first()).attempts == 1  # type: ignore[union-attr]
    await MailJob.update({MailJob.next_attempt_at: datetime.now(UTC)}, force=True)
    await tasks.run_once(live, store)
    job = await MailJob.objects().first()
    assert job is not None and job.status == "failed" and job.attempts == 2
    page = await client.get("/staff/notices")
    assert "Mail failed" in page.text
    # A person retries; the server accepts this time.
    mailbox.refuse = 0
    token = await csrf_of(client, "/staff/notices")
    retried = await client.post(f"/staff/mail/{job.id}/retry", data={"_csrf": token})
    assert retried.status_code == 303
    await tasks.run_once(live, store)
    assert len(mailbox.messages) == 1
    notice = await Notice.objects().first()
    assert notice is not None and notice.notified_at is not None


async def test_reminder_for_unread_notice(
    client: PortalClient, customer: Person, settings: Settings, mailbox: Mailbox
) -> None:
    from tests.portal.integration.staff.conftest import smtp_settings

    await _customer_in_team(client, customer, email="erika@example.org")
    await _consent(client)
    await _lead(client, settings)
    await _send_notice(client, customer.number, "Bescheid", documents.pdf())
    live = smtp_settings(settings, mailbox)
    store = build_store(live.storage)
    await tasks.run_once(live, store)
    await tasks.run_once(live, store)
    assert len(mailbox.messages) == 1  # not due yet
    past = datetime.now(UTC) - timedelta(days=settings.delivery.reminder_after_days + 1)
    await Notice.update({Notice.notified_at: past}, force=True)
    assert "Unread after" in (await client.get("/staff/notices")).text
    await tasks.run_once(live, store)
    await tasks.run_once(live, store)
    assert len(mailbox.messages) == 2
    assert (
        "Reminder" in mailbox.messages[1]["Subject"]
        or "Erinnerung" in mailbox.messages[1]["Subject"]
    )
