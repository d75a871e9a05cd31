"""Per-integration API tokens: shown once, stored as SHA-256, scoped, revocable."""

from __future__ import annotations

from piccolo.columns import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from dokportal.staff.tables import StaffAccount


class ApiToken(Table, tablename="api_token"):
    id = Serial(primary_key=True)

    name = Varchar(length=100)
    token_hash = Varchar(length=64, unique=True, index=True)
    # The first characters, so an admin can tell tokens apart without the secret.
    prefix = Varchar(length=16)
    # Space-separated: read, acknowledge.
    scopes = Varchar(length=64)
    created_by = ForeignKey(
        references=StaffAccount, null=True, default=None, on_delete=OnDelete.set_null
    )
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
