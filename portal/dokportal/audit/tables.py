"""The audit trail: one row per event, each carrying the hash of the one before."""

from __future__ import annotations

from piccolo.columns import BigInt, Serial, Timestamptz, Varchar
from piccolo.table import Table


class AuditEvent(Table, tablename="audit_event"):
    """Who (kind, id, role) did what (action) to which record, when and from where.

    Never contents, names of documents or secrets. ``seq`` is unique, so two writers that
    race for the same position cannot fork the chain: the loser retries on top.
    """

    id = Serial(primary_key=True)

    seq = BigInt(unique=True, index=True)
    at = Timestamptz()
    actor_kind = Varchar(length=16)
    actor_id = Varchar(length=64, default="")
    role = Varchar(length=16, default="")
    action = Varchar(length=64, index=True)
    object_type = Varchar(length=32, default="")
    object_id = Varchar(length=64, default="", index=True)
    source_ip = Varchar(length=64, default="")
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)
