"""Submissions: record what was received, list it, find it for its owner only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from dokportal.documents.tables import Submission, SubmissionFile
from dokportal.files import Ingested
from dokportal.files.tables import StoredFile
from dokportal.lib.errors import NotFound

STATUSES = ("received", "in_progress", "done", "transferred")


@dataclass(frozen=True)
class ReceiptFile:
    name: str
    size: int
    sha256: str
    content_type: str
    # Virus scan: "pending" (being checked), "infected"/"error" (not accepted), else fine.
    scan_state: str = "unscanned"

    @property
    def rejected(self) -> bool:
        return self.scan_state in ("infected", "error")


@dataclass(frozen=True)
class Receipt:
    reference: str
    created_at: datetime
    category: str
    message: str
    status: str
    files: list[ReceiptFile]


async def record_submission(
    *,
    customer_id: int,
    category: str,
    message: str,
    files: list[Ingested],
    prefix: str,
    scan_state: str,
) -> Submission:
    """Write the rows for blobs that are already durable, in one transaction.

    ``scan_state`` is where the files start (files/scanning.py: ``pending`` with a virus
    scanner, so nobody can open them before the scan)."""
    now = datetime.now(UTC)
    async with Submission._meta.db.transaction():
        submission = Submission(
            reference=f"pending-{uuid.uuid4().hex[:20]}",  # fits varchar(32)
            customer=customer_id,
            category=category,
            message=message,
            created_at=now,
        )
        await submission.save()
        submission.reference = f"{prefix}-{now.year}-{submission.id:06d}"
        await Submission.update({Submission.reference: submission.reference}).where(
            Submission.id == submission.id
        )
        for position, ingested in enumerate(files):
            row = ingested.as_row()
            row.scan_state = scan_state
            await row.save()
            await SubmissionFile(
                submission=submission.id, stored_file=row.id, position=position
            ).save()
    return submission


async def stored_ids(submission_id: int) -> list[int]:
    rows = await SubmissionFile.select(SubmissionFile.stored_file).where(
        SubmissionFile.submission == submission_id
    )
    return [int(row["stored_file"]) for row in rows]


async def rejected_files(submission_ids: list[int]) -> dict[int, list[str]]:
    """Per submission, the names of files that were not accepted (virus found or not
    checkable), for the customer's list."""
    if not submission_ids:
        return {}
    rows = await SubmissionFile.select(
        SubmissionFile.submission, SubmissionFile.stored_file.display_name
    ).where(
        SubmissionFile.submission.is_in(submission_ids)
        & SubmissionFile.stored_file.scan_state.is_in(["infected", "error"])
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(int(row["submission"]), []).append(row["stored_file.display_name"])
    return found


async def list_submissions(customer_id: int) -> list[Submission]:
    return (
        await Submission.objects()
        .where(Submission.customer == customer_id)
        .order_by(Submission.created_at, ascending=False)
        .order_by(Submission.id, ascending=False)
    )


async def receipt_for(customer_id: int, reference: str) -> Receipt:
    """The receipt of one of the customer's own submissions; anyone else's is 'not found'."""
    submission = (
        await Submission.objects()
        .where((Submission.reference == reference[:32]) & (Submission.customer == customer_id))
        .first()
    )
    if submission is None:
        raise NotFound("This document was not found.")
    links = (
        await SubmissionFile.objects()
        .where(SubmissionFile.submission == submission.id)
        .order_by(SubmissionFile.position)
    )
    files: list[ReceiptFile] = []
    for link in links:
        stored = await StoredFile.objects().where(StoredFile.id == link.stored_file).first()
        if stored is not None:
            files.append(
                ReceiptFile(
                    name=stored.display_name,
                    size=stored.size,
                    sha256=stored.sha256,
                    content_type=stored.content_type,
                    scan_state=stored.scan_state,
                )
            )
    return Receipt(
        reference=submission.reference,
        created_at=submission.created_at,
        category=submission.category,
        message=submission.message,
        status=submission.status,
        files=files,
    )
