"""The team's inbox and what a caseworker does with a submission. No HTTP types.

Every read goes through :func:`submission_for_team`: a submission of a customer in another
team is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from piccolo.query.functions.aggregate import Count

from dokportal.accounts.tables import Customer
from dokportal.documents.tables import Submission, SubmissionFile
from dokportal.files.tables import StoredFile
from dokportal.lib.errors import BadRequest, NotFound
from dokportal.staff.tables import StaffAccount
from dokportal.workspace.tables import Note

WORK_STATUSES = ("received", "in_progress", "done")
MAX_NOTE_CHARS = 4000


@dataclass(frozen=True)
class InboxFilter:
    status: str = ""
    category: str = ""
    customer: str = ""
    date_from: date | None = None
    date_to: date | None = None
    mine: bool = False


@dataclass
class InboxRow:
    reference: str
    created_at: datetime
    category: str
    status: str
    customer_number: str
    customer_name: str
    assignee: str
    files: int = 0


@dataclass
class Inbox:
    rows: list[InboxRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


async def inbox(
    team_id: int | None, filters: InboxFilter, timezone: str, me: int | None = None
) -> Inbox:
    """The team's submissions, unassigned first, then newest; counts per status."""
    if team_id is None:
        return Inbox(counts={status: 0 for status in (*WORK_STATUSES, "transferred")})
    query = Submission.select(
        Submission.reference,
        Submission.created_at,
        Submission.category,
        Submission.status,
        Submission.assignee,
        Submission.customer.customer_number,
        Submission.customer.display_name,
        Submission.assignee.display_name,
    ).where(Submission.customer.team == team_id)
    if filters.status:
        query = query.where(Submission.status == filters.status)
    if filters.category:
        query = query.where(Submission.category == filters.category)
    if filters.customer:
        query = query.where(Submission.customer.customer_number == filters.customer.strip()[:32])
    if filters.date_from:
        query = query.where(Submission.created_at >= _local_midnight(filters.date_from, timezone))
    if filters.date_to:
        end = _local_midnight(filters.date_to + timedelta(days=1), timezone)
        query = query.where(Submission.created_at < end)
    if filters.mine and me is not None:
        query = query.where(Submission.assignee == me)
    raw: list[dict[str, Any]] = await query.order_by(Submission.id, ascending=False).limit(500)
    rows = [
        InboxRow(
            reference=item["reference"],
            created_at=item["created_at"],
            category=item["category"],
            status=item["status"],
            customer_number=item["customer.customer_number"],
            customer_name=item["customer.display_name"],
            assignee=item["assignee.display_name"] or "",
        )
        for item in raw
    ]
    # Unassigned first (stable sort keeps newest first within each group).
    rows.sort(key=lambda row: row.assignee != "")
    counts = {status: 0 for status in (*WORK_STATUSES, "transferred")}
    grouped: list[dict[str, Any]] = (
        await Submission.select(Submission.status, Count(alias="n"))
        .where(Submission.customer.team == team_id)
        .group_by(Submission.status)
    )
    for item in grouped:
        counts[item["status"]] = int(item["n"])
    return Inbox(rows=rows, counts=counts)


async def submission_for_team(team_id: int | None, reference: str) -> Submission:
    """The submission if its customer belongs to ``team_id``; otherwise not found."""
    if team_id is None:
        raise NotFound("This document was not found.")
    row = (
        await Submission.objects()
        .where((Submission.reference == reference[:32]) & (Submission.customer.team == team_id))
        .first()
    )
    if row is None:
        raise NotFound("This document was not found.")
    return row


async def files_of(submission_id: int) -> list[StoredFile]:
    links = (
        await SubmissionFile.objects()
        .where(SubmissionFile.submission == submission_id)
        .order_by(SubmissionFile.position)
    )
    files: list[StoredFile] = []
    for link in links:
        stored = await StoredFile.objects().where(StoredFile.id == link.stored_file).first()
        if stored is not None:
            files.append(stored)
    return files


async def file_at(submission_id: int, position: int) -> StoredFile:
    files = await files_of(submission_id)
    if not 0 <= position < len(files):
        raise NotFound("This file was not found.")
    return files[position]


async def customer_of(submission: Submission) -> Customer:
    row = await Customer.objects().where(Customer.id == submission.customer).first()
    if row is None:
        raise NotFound("This document was not found.")
    return row


async def assign(
    submission: Submission, assignee_id: int | None, team_id: int
) -> StaffAccount | None:
    """Give the submission to a colleague of the same team (or to nobody)."""
    assignee = None
    if assignee_id is not None:
        assignee = (
            await StaffAccount.objects()
            .where((StaffAccount.id == assignee_id) & (StaffAccount.team == team_id))
            .first()
        )
        if assignee is None:
            raise BadRequest("Please choose a colleague from your team.")
    await Submission.update({Submission.assignee: assignee_id}).where(
        Submission.id == submission.id
    )
    return assignee


async def set_status(submission: Submission, status: str) -> None:
    """received → in progress → done (and back while working); 'transferred' is the
    export API's to set, and a transferred submission no longer changes here."""
    if status not in WORK_STATUSES:
        raise BadRequest("Unknown status.")
    if submission.status == "transferred":
        raise BadRequest("This submission was already passed to the e-file.")
    await Submission.update(
        {Submission.status: status, Submission.status_changed_at: datetime.now(UTC)}
    ).where(Submission.id == submission.id)


async def add_note(submission: Submission, author_id: int, body: str) -> Note:
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise BadRequest("Please write a note.")
    if len(text) > MAX_NOTE_CHARS:
        raise BadRequest(
            "The note is too long. Please write at most %(max)s characters.", max=MAX_NOTE_CHARS
        )
    note = Note(submission=submission.id, author=author_id, body=text)
    await note.save()
    return note


async def notes_of(submission_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await Note.select(Note.body, Note.created_at, Note.author.display_name)
        .where(Note.submission == submission_id)
        .order_by(Note.id)
    )
    return rows
