"""The outbox: queue a mail, deliver what is due, retry with exponential backoff.

A mail is never lost silently: it is either sent (``sent_at``), waiting for its next try, or
``failed`` after the last attempt, and each state shows in the workspace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dokportal import metrics
from dokportal.mail.messages import compose
from dokportal.mail.sender import MailNotSent, send
from dokportal.mail.tables import MailJob
from dokportal.settings import MailSettings

log = logging.getLogger("dokportal.mail")
MAX_BACKOFF = timedelta(hours=6)
CLAIM_LEASE = timedelta(minutes=5)


async def enqueue(
    *,
    kind: str,
    recipient: str,
    language: str,
    object_type: str = "",
    object_id: object = "",
    secret: str = "",
) -> MailJob:
    job = MailJob(
        kind=kind,
        recipient=recipient,
        language=language,
        object_type=object_type,
        object_id=str(object_id),
        secret=secret,
        next_attempt_at=datetime.now(UTC),
    )
    await job.save()
    return job


def backoff(settings: MailSettings, attempts: int) -> timedelta:
    """60 s, 120 s, 240 s … capped at six hours."""
    return min(timedelta(seconds=settings.backoff_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass(frozen=True)
class Delivered:
    job: MailJob
    sent_at: datetime


async def deliver_due(
    settings: MailSettings, *, tenant: str, base_url: str, limit: int = 50
) -> tuple[list[Delivered], list[MailJob]]:
    """Try every pending mail that is due; returns (sent, failed for good)."""
    now = datetime.now(UTC)
    due: list[MailJob] = (
        await MailJob.objects()
        .where((MailJob.status == "pending") & (MailJob.next_attempt_at <= now))
        .order_by(MailJob.id)
        .limit(limit)
    )
    sent: list[Delivered] = []
    failed: list[MailJob] = []
    for job in due:
        # Claim it (a lease until the next try would be due anyway), so that two workers
        # (replicas, or the CLI next to the server) never send the same mail twice.
        claimed = (
            await MailJob.update({MailJob.next_attempt_at: now + CLAIM_LEASE})
            .where(
                (MailJob.id == job.id)
                & (MailJob.status == "pending")
                & (MailJob.next_attempt_at <= now)
            )
            .returning(MailJob.id)
        )
        if not claimed:
            continue
        # An activation link carries its one-time code (a prepared query string) until sent.
        if job.kind == "activation":
            link = f"{base_url}/activate?{job.secret}"
        else:
            link = f"{base_url}/notices"
        message = compose(
            kind=job.kind,
            language=job.language,
            tenant=tenant,
            link=link,
            sender=settings.sender,
            recipient=job.recipient,
        )
        attempts = job.attempts + 1
        try:
            await send(settings, message)
        except MailNotSent as error:
            final = attempts >= settings.max_attempts
            metrics.MAIL.labels(job.kind, "failed" if final else "retrying").inc()
            await MailJob.update(
                {
                    MailJob.attempts: attempts,
                    MailJob.last_error: str(error)[:200],
                    MailJob.status: "failed" if final else "pending",
                    MailJob.next_attempt_at: datetime.now(UTC) + backoff(settings, attempts),
                }
            ).where(MailJob.id == job.id)
            log.warning("mail %s attempt %s failed: %s", job.id, attempts, error)
            if final:
                job.status = "failed"
                failed.append(job)
            continue
        moment = datetime.now(UTC)
        await MailJob.update(
            {
                MailJob.attempts: attempts,
                MailJob.status: "sent",
                MailJob.sent_at: moment,
                MailJob.last_error: "",
                MailJob.secret: "",
            }
        ).where(MailJob.id == job.id)
        sent.append(Delivered(job=job, sent_at=moment))
        metrics.MAIL.labels(job.kind, "sent").inc()
    return sent, failed


async def outbox_counts() -> dict[str, int]:
    """Mails waiting (pending) and given up (failed): the outbox gauge and its alert."""
    return {
        status: await MailJob.count().where(MailJob.status == status)
        for status in ("pending", "failed")
    }


async def retry(job_id: int) -> None:
    """A person asked to try a failed mail again now."""
    await MailJob.update(
        {MailJob.status: "pending", MailJob.attempts: 0, MailJob.next_attempt_at: datetime.now(UTC)}
    ).where((MailJob.id == job_id) & (MailJob.status == "failed"))


async def jobs_for(object_type: str, object_ids: list[str]) -> dict[str, list[MailJob]]:
    if not object_ids:
        return {}
    rows: list[MailJob] = (
        await MailJob.objects()
        .where((MailJob.object_type == object_type) & MailJob.object_id.is_in(object_ids))
        .order_by(MailJob.id)
    )
    grouped: dict[str, list[MailJob]] = {}
    for row in rows:
        grouped.setdefault(row.object_id, []).append(row)
    return grouped
