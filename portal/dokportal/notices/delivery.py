"""Notices sent by staff, with proof of delivery (§ 37 (2a) SGB X). No HTTP types.

Electronic delivery needs the customer's consent and an e-mail address; otherwise the
notice is marked for the post. When the notification mail has gone out, the notice counts as
delivered on the N-th day after (the number of days is a setting; four since the 2025 postal
reform). If the customer disputes receiving the mail, the day they opened the notice counts,
so opened-at and downloaded-at are recorded exactly (see notices/services.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dokportal.accounts.tables import Customer
from dokportal.files import Ingested
from dokportal.lib.errors import BadRequest
from dokportal.mail.services import Delivered, enqueue
from dokportal.mail.tables import MailJob
from dokportal.notices.tables import Notice
from dokportal.settings import DeliverySettings
from dokportal.storage import BlobStore

ELECTRONIC = "electronic"
POST = "post"


def electronic_possible(customer: Customer) -> bool:
    return customer.e_delivery_consent_at is not None and bool(customer.email)


def deemed_received(notified_at: datetime, days: int, timezone: str) -> date:
    """The N-th calendar day after the day the notification was sent (office time)."""
    return notified_at.astimezone(ZoneInfo(timezone)).date() + timedelta(days=days)


async def record_staff_notice(
    *,
    customer: Customer,
    title: str,
    message: str,
    staff_id: int | None,
    ingested: Ingested,
    store: BlobStore,
    scan_state: str,
) -> Notice:
    """Write the rows for a PDF that is already stored encrypted, then queue the mail.

    ``scan_state`` is the virus scan's verdict, taken before this call (files/scanning.py).
    ``staff_id`` is None for notices sent from the command line. On any failure the blob
    is removed again, so nothing half-stored remains.
    """
    title = " ".join(title.split())[:200]
    electronic = electronic_possible(customer)
    try:
        if not title:
            raise BadRequest("Please enter a title.")
        async with Notice._meta.db.transaction():
            row = ingested.as_row()
            row.scan_state = scan_state
            await row.save()
            notice = Notice(
                customer=customer.id,
                title=title,
                message=message.replace("\r\n", "\n").strip()[:2000],
                stored_file=row.id,
                sent_by=staff_id,
                delivery=ELECTRONIC if electronic else POST,
            )
            await notice.save()
    except BaseException:
        await store.delete(ingested.blob_id)
        raise
    if electronic:
        await enqueue(
            kind="notice",
            recipient=customer.email,
            language=customer.preferred_language,
            object_type="notice",
            object_id=notice.id,
        )
    return notice


async def mark_notified(delivered: Delivered, rules: DeliverySettings, timezone: str) -> None:
    """The first notification mail that went out starts the § 37 (2a) clock."""
    job = delivered.job
    if job.object_type != "notice" or job.kind != "notice":
        return
    await Notice.update(
        {
            Notice.notified_at: delivered.sent_at,
            Notice.deemed_received_on: deemed_received(
                delivered.sent_at, rules.deemed_received_days, timezone
            ),
        }
    ).where((Notice.id == int(job.object_id)) & Notice.notified_at.is_null())


async def queue_reminders(rules: DeliverySettings) -> list[Notice]:
    """One reminder per notice still unopened ``reminder_after_days`` after notification."""
    cutoff = datetime.now(UTC) - timedelta(days=rules.reminder_after_days)
    due: list[Notice] = await Notice.objects().where(
        (Notice.delivery == ELECTRONIC)
        & (Notice.notified_at <= cutoff)
        & Notice.read_at.is_null()
        & Notice.reminded_at.is_null()
    )
    reminded: list[Notice] = []
    for notice in due:
        customer = await Customer.objects().where(Customer.id == notice.customer).first()
        if customer is None or not electronic_possible(customer):
            continue
        claimed = (
            await Notice.update({Notice.reminded_at: datetime.now(UTC)})
            .where((Notice.id == notice.id) & Notice.reminded_at.is_null())
            .returning(Notice.id)
        )
        if claimed:
            await enqueue(
                kind="reminder",
                recipient=customer.email,
                language=customer.preferred_language,
                object_type="notice",
                object_id=notice.id,
            )
            reminded.append(notice)
    return reminded


@dataclass
class NoticeRow:
    notice: Notice
    customer_number: str
    customer_name: str
    mail_status: str
    mail_error: str
    mail_attempts: int
    failed_job_id: int | None
    overdue: bool


async def notices_of_team(team_id: int | None, rules: DeliverySettings) -> list[NoticeRow]:
    """What the team sent, with the state of each notification mail."""
    if team_id is None:
        return []
    notices: list[Notice] = (
        await Notice.objects()
        .where(Notice.customer.team == team_id)
        .order_by(Notice.id, ascending=False)
        .limit(300)
    )
    ids = [str(n.id) for n in notices]
    jobs: dict[str, list[MailJob]] = {}
    if ids:
        rows: list[MailJob] = await MailJob.objects().where(
            (MailJob.object_type == "notice") & MailJob.object_id.is_in(ids)
        )
        for job in rows:
            jobs.setdefault(job.object_id, []).append(job)
    customers = {
        c.id: c
        for c in await Customer.objects().where(
            Customer.id.is_in([n.customer for n in notices] or [0])
        )
    }
    overdue_after = timedelta(days=rules.reminder_after_days)
    now = datetime.now(UTC)
    result: list[NoticeRow] = []
    for notice in notices:
        mine = sorted(jobs.get(str(notice.id), []), key=lambda j: j.id)
        failed = next((j for j in mine if j.status == "failed"), None)
        shown = failed or (mine[-1] if mine else None)
        customer = customers.get(notice.customer)
        result.append(
            NoticeRow(
                notice=notice,
                customer_number=customer.customer_number if customer else "",
                customer_name=customer.display_name if customer else "",
                mail_status=shown.status if shown else "",
                mail_error=shown.last_error if shown else "",
                mail_attempts=shown.attempts if shown else 0,
                failed_job_id=failed.id if failed else None,
                overdue=notice.read_at is None
                and notice.notified_at is not None
                and now - notice.notified_at > overdue_after,
            )
        )
    return result


async def set_consent(customer: Customer, consent: bool) -> None:
    """Consent to electronic delivery, with the time; revoking clears it."""
    await Customer.update(
        {Customer.e_delivery_consent_at: datetime.now(UTC) if consent else None}
    ).where(Customer.id == customer.id)
