"""Submissions: what a customer sent, in one go, to the caseworker."""

from __future__ import annotations

from piccolo.columns import ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from dokportal.accounts.tables import Customer
from dokportal.files.tables import StoredFile
from dokportal.staff.tables import StaffAccount


class Submission(Table, tablename="submission"):
    """One upload of one or more files with a category and an optional message."""

    id = Serial(primary_key=True)

    reference = Varchar(length=32, unique=True, index=True)
    customer = ForeignKey(references=Customer, index=True)
    category = Varchar(length=32)
    message = Text(default="")
    # received → in_progress → done → transferred
    status = Varchar(length=16, default="received", index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    # Staff side: who handles it, and when the e-file acknowledged it (retention clock).
    assignee = ForeignKey(
        references=StaffAccount, null=True, default=None, index=True, on_delete=OnDelete.set_null
    )
    status_changed_at = Timestamptz(null=True, default=None)
    transferred_at = Timestamptz(null=True, default=None)


class SubmissionFile(Table, tablename="submission_file"):
    """The files of a submission, in the order the customer sent them."""

    id = Serial(primary_key=True)

    submission = ForeignKey(references=Submission, index=True)
    stored_file = ForeignKey(references=StoredFile)
    position = Integer(default=0)
