"""Metadata of every stored (encrypted) file, whichever domain it belongs to."""

from __future__ import annotations

from piccolo.columns import BigInt, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class StoredFile(Table, tablename="stored_file"):
    """One encrypted blob. Written only after the blob is durably stored."""

    id = Serial(primary_key=True)

    blob_id = Varchar(length=64, unique=True, index=True)
    # Data key wrapped by the tenant key ``key_id`` (base64); the plain key is never stored.
    key_id = Varchar(length=64, index=True)
    wrapped_key = Varchar(length=255)
    format_version = Integer(default=1)
    size = BigInt()
    sha256 = Varchar(length=64)
    content_type = Varchar(length=64)
    # What the user called it: display metadata only, never used as a path.
    display_name = Varchar(length=255)
    # Kinds of active content found in a PDF ("javascript,launch"); empty for a harmless file.
    active_content = Varchar(length=200, default="")
    # For a file with active content: "pending" until its rendered safe copy exists, then
    # "ready" (``safe_copy`` is that copy's id) or "failed" (staff get the warning only).
    safe_copy_state = Varchar(length=16, default="", index=True)
    safe_copy = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    # Virus scan (files/scanning.py): unscanned (no scanner configured when it was stored;
    # served), pending (waiting for clamd; closed), clean (served), infected (quarantined:
    # kept encrypted, never served), error (clamd could not scan it; closed). Rows from
    # before scanning existed are "unscanned".
    scan_state = Varchar(length=16, default="unscanned", index=True)
    # What clamd found (a signature name, never file content); empty otherwise.
    scan_signature = Varchar(length=200, default="")
    scan_attempts = Integer(default=0)
    # A pending file is not tried again before this moment (back-off while clamd is down).
    scan_after = Timestamptz(null=True, default=None)
    scanned_at = Timestamptz(null=True, default=None)
