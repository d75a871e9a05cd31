"""The outbox. A row per mail to send; nothing is ever dropped without a visible state."""

from __future__ import annotations

from piccolo.columns import Integer, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class MailJob(Table, tablename="mail_job"):
    """What to send to whom; the text is rendered at delivery time from ``kind`` and
    ``language``, so no document content or title is ever stored or sent."""

    id = Serial(primary_key=True)

    # notice (a new document is waiting), reminder, activation (a one-time link)
    kind = Varchar(length=16)
    recipient = Varchar(length=254)
    language = Varchar(length=8, default="de")
    # What it is about (e.g. notice 17), for the workspace and the audit trail.
    object_type = Varchar(length=16, default="")
    object_id = Varchar(length=64, default="", index=True)
    # An activation link's one-time token travels here until sent, then is cleared.
    secret = Varchar(length=128, default="")
    # pending → sent, or failed after the last attempt
    status = Varchar(length=8, default="pending", index=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    last_error = Varchar(length=200, default="")
    sent_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
