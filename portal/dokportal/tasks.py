"""The periodic work of a portal process: deliver mail, queue reminders, apply retention,
forget stale sign-in counters.

One loop in the app's lifespan. With several replicas each runs it: every step claims its
rows with conditional updates, so doing it twice at the same moment changes nothing.
"""

from __future__ import annotations

import asyncio
import logging

from dokportal.audit import record
from dokportal.audit.services import SYSTEM
from dokportal.mail import services as mail
from dokportal.notices import delivery
from dokportal.retention import services as retention
from dokportal.sessions import limits
from dokportal.settings import Settings
from dokportal.storage import BlobStore

log = logging.getLogger("dokportal.tasks")


async def run_once(settings: Settings, store: BlobStore) -> None:
    """One round: reminders first (so they go out in the same round), then the outbox."""
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
    await retention.run(store, settings.retention.delete_transferred_after_days)
    await limits.forget_stale()


async def loop(settings: Settings, store: BlobStore) -> None:
    while True:
        try:
            await run_once(settings, store)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic task failed")
        await asyncio.sleep(settings.worker.interval_seconds)
