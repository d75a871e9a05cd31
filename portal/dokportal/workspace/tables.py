"""Internal notes on submissions: for colleagues only, never shown to the customer."""

from __future__ import annotations

from piccolo.columns import ForeignKey, Serial, Text, Timestamptz
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from dokportal.documents.tables import Submission
from dokportal.staff.tables import StaffAccount


class Note(Table, tablename="submission_note"):
    id = Serial(primary_key=True)

    submission = ForeignKey(references=Submission, index=True)
    author = ForeignKey(
        references=StaffAccount, null=True, default=None, on_delete=OnDelete.set_null
    )
    body = Text()
    created_at = Timestamptz(default=TimestamptzNow())
