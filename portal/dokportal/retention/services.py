"""Retention: a submission the e-file acknowledged is deleted N days later.

Blobs go first, then the rows (which hold the wrapped data keys, so the keys are destroyed
with them). A crash in between leaves rows pointing at missing blobs only for submissions
that were due for deletion anyway; the next run finishes them, because deleting a missing
blob is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dokportal.audit import record
from dokportal.audit.services import SYSTEM, Actor
from dokportal.documents.tables import Submission, SubmissionFile
from dokportal.files.tables import StoredFile
from dokportal.storage import BlobStore
from dokportal.workspace.tables import Note


@dataclass(frozen=True)
class RetentionReport:
    submissions: int
    blobs: int


async def run(
    store: BlobStore, days: int, *, now: datetime | None = None, actor: Actor = SYSTEM
) -> RetentionReport:
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    due: list[Submission] = await Submission.objects().where(
        (Submission.status == "transferred") & (Submission.transferred_at <= cutoff)
    )
    blobs = 0
    for submission in due:
        links = await SubmissionFile.objects().where(SubmissionFile.submission == submission.id)
        stored_ids = [link.stored_file for link in links]
        stored: list[StoredFile] = (
            await StoredFile.objects().where(StoredFile.id.is_in(stored_ids)) if stored_ids else []
        )
        # A PDF's rendered safe copy (files/safe_copies.py) goes with its original.
        copies = [row.safe_copy for row in stored if row.safe_copy is not None]
        if copies:
            stored += await StoredFile.objects().where(StoredFile.id.is_in(copies))
            stored_ids += copies
        for row in stored:
            await store.delete(row.blob_id)
            blobs += 1
        async with Submission._meta.db.transaction():
            await Note.delete().where(Note.submission == submission.id)
            await SubmissionFile.delete().where(SubmissionFile.submission == submission.id)
            if stored_ids:
                await StoredFile.delete().where(StoredFile.id.is_in(stored_ids))
            await Submission.delete().where(Submission.id == submission.id)
        await record(actor, "retention.deleted", "submission", submission.reference)
    return RetentionReport(submissions=len(due), blobs=blobs)
