"""Notices: put one into a customer's inbox, list them, record when they were read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from dokportal.accounts.tables import Customer
from dokportal.files import FileIngest, Ingested
from dokportal.files.tables import StoredFile
from dokportal.lib.errors import NotFound
from dokportal.notices import delivery
from dokportal.notices.tables import Notice
from dokportal.storage import BlobStore

PDF_ONLY = frozenset({"application/pdf"})


async def send_notice(
    *,
    customer_number: str,
    title: str,
    filename: str,
    chunks: AsyncIterator[bytes],
    ingest: FileIngest,
    store: BlobStore,
    scan: Callable[[Ingested], Awaitable[str]],
) -> Notice:
    """Store the PDF encrypted, then the row; on any failure nothing stays behind.

    ``scan`` checks the stored file before the row exists and returns its scan state
    (files/scanning.py: scan_before_recording); it removes the blob itself when it refuses.
    Delivery follows the customer's consent exactly as when staff send from the workspace
    (:func:`dokportal.notices.delivery.record_staff_notice`): electronic with a notification
    mail only with consent and an address, otherwise by post.
    """
    customer = await Customer.objects().where(Customer.customer_number == customer_number).first()
    if customer is None:
        raise NotFound("No customer with this customer number.")
    try:
        async for chunk in chunks:
            await ingest.feed(chunk)
        ingested = await ingest.finish()
    except BaseException:
        await ingest.abort()
        raise
    scan_state = await scan(ingested)
    return await delivery.record_staff_notice(
        customer=customer,
        title=title,
        message="",
        staff_id=None,
        ingested=ingested,
        store=store,
        scan_state=scan_state,
    )


async def list_notices(customer_id: int) -> list[Notice]:
    return (
        await Notice.objects()
        .where(Notice.customer == customer_id)
        .order_by(Notice.created_at, ascending=False)
        .order_by(Notice.id, ascending=False)
    )


async def unread_count(customer_id: int) -> int:
    count: int = await Notice.count().where(
        (Notice.customer == customer_id) & Notice.read_at.is_null()
    )
    return count


async def notice_for(customer_id: int, notice_id: int) -> Notice:
    """One of the customer's own notices; anyone else's is 'not found'."""
    notice = (
        await Notice.objects()
        .where((Notice.id == notice_id) & (Notice.customer == customer_id))
        .first()
    )
    if notice is None:
        raise NotFound("This notice was not found.")
    return notice


async def mark_read(notice: Notice) -> None:
    """The first opening is what counts for proof of retrieval; later ones change nothing."""
    if notice.read_at is None:
        now = datetime.now(UTC)
        await Notice.update({Notice.read_at: now}).where(
            (Notice.id == notice.id) & Notice.read_at.is_null()
        )
        notice.read_at = now


async def mark_downloaded(notice: Notice) -> None:
    now = datetime.now(UTC)
    if notice.read_at is None:
        await mark_read(notice)
    if notice.downloaded_at is None:
        await Notice.update({Notice.downloaded_at: now}).where(
            (Notice.id == notice.id) & Notice.downloaded_at.is_null()
        )
        notice.downloaded_at = now


async def stored_file(notice: Notice) -> StoredFile:
    row = await StoredFile.objects().where(StoredFile.id == notice.stored_file).first()
    if row is None:
        raise NotFound("This notice was not found.")
    return row
