"""Notices (Bescheide) the office sends to a customer."""

from __future__ import annotations

from piccolo.columns import Date, ForeignKey, Serial, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from dokportal.accounts.tables import Customer
from dokportal.files.tables import StoredFile
from dokportal.staff.tables import StaffAccount


class Notice(Table, tablename="notice"):
    """A PDF in the customer's inbox; read and download times are proof of retrieval."""

    id = Serial(primary_key=True)

    customer = ForeignKey(references=Customer, index=True)
    title = Varchar(length=200)
    message = Text(default="")
    stored_file = ForeignKey(references=StoredFile)
    created_at = Timestamptz(default=TimestamptzNow())
    read_at = Timestamptz(null=True, default=None)
    downloaded_at = Timestamptz(null=True, default=None)
    # Proof of delivery (§ 37 (2a) SGB X): electronic (consented, notified by mail) or post.
    sent_by = ForeignKey(
        references=StaffAccount, null=True, default=None, on_delete=OnDelete.set_null
    )
    delivery = Varchar(length=12, default="electronic")
    notified_at = Timestamptz(null=True, default=None)
    deemed_received_on = Date(null=True, default=None)
    reminded_at = Timestamptz(null=True, default=None)
