"""Notices (Bescheide) the office sends to a customer."""

from __future__ import annotations

from piccolo.columns import ForeignKey, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from dokportal.accounts.tables import Customer
from dokportal.files.tables import StoredFile


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
