"""The periodic work of a portal process: scan pending files, deliver mail, queue
reminders, apply retention, make PDF safe copies, forget stale sign-in counters.

One loop in the app's lifespan. With several replicas each runs it: every step claims its
rows with conditional updates, so doing it twice at the same moment changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time

from dokportal import metrics
from dokportal.audit import record
from dokportal.audit.services import SYSTEM
from dokportal.crypto.keyring import Keyring
from dokportal.files import safe_copies, scanning
from dokportal.mail import services as mail
from dokportal.notices import delivery
from dokportal.retention import services as retention
from dokportal.sessions import limits
from dokportal.settings import Settings
from dokportal.storage import BlobStore

log = logging.getLogger("dokportal.tasks")


async def run_once(settings: Settings, store: BlobStore, keyring: Keyring | None = None) -> None:
    """One round: files waiting for the virus scan (clamd may be back), then reminders
    (so they go out in the same round), then the outbox; safe copies of PDFs with active
    content when the keyring is at hand."""
    if settings.scan.enabled:
        await scanning.scan_due(settings, store, keyring or Keyring.load(settings.keyring_path))
    for notice in await delivery.queue_reminders(settings.delivery):
        await record(SYSTEM, "notice.reminder_queued", "notice", notice.id)
    sent, failed = await mail.deliver_due(
        settings.mail, tenant=settings.tenant.name, base_url=settings.public_base_url
    )
    for item in sent:
        await delivery.mark_notified(item, settings.delivery, settings.tenant.timezone)
        await record(SYSTEM, f"mail.sent.{item.job.kind}", item.job.object_type, item.job.object_id)
    for job in failed:
        await record(SYSTEM, f"mail.failed.{job.kind}", job.object_type, job.object_id)
    for status, count in (await mail.outbox_counts()).items():
        metrics.MAIL_OUTBOX.labels(status).set(count)
    await retention.run(store, settings.retention.delete_transferred_after_days)
    await limits.forget_stale()
    if keyring is not None:
        await safe_copies.make_pending(store, keyring, settings.tenant.slug)


async def loop(settings: Settings, store: BlobStore, keyring: Keyring | None = None) -> None:
    while True:
        started = time.perf_counter()
        try:
            await run_once(settings, store, keyring)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.WORKER_RUNS.labels("failed").inc()
            log.exception("periodic task failed")
        else:
            metrics.WORKER_RUNS.labels("ok").inc()
            metrics.WORKER_LAST_SUCCESS.set_to_current_time()
        metrics.WORKER_SECONDS.observe(time.perf_counter() - started)
        await asyncio.sleep(settings.worker.interval_seconds)
