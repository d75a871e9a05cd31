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
    created_at = Timestamptz(default=TimestamptzNow())
