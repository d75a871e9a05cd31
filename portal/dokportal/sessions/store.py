"""Browser sessions for customers and staff: one implementation, one table per kind.

Each kind keeps its own table (``customer_session``, ``staff_session``) so that a session
row belongs to its account by a foreign key (deleted with it) and a customer's cookie can
never be looked up as a staff session. The life cycle is the same for both and lives here:
a random token in the cookie and only its SHA-256 in the database, a new token at every
sign-in, an idle and an absolute timeout, sign-out of one browser or of all.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from piccolo.columns import Column
from piccolo.table import Table

# Cookie values longer than this are not ours; refused before hashing or querying.
MAX_TOKEN_LENGTH = 128
# The idle clock is moved at most this often: honest enough, without a write per request.
TOUCH_EVERY = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class SessionStore:
    """Sessions in ``table``; ``owner`` names its foreign key to the account."""

    def __init__(self, table: type[Table], owner: str) -> None:
        self.table = table
        self.owner = owner

    def _column(self, name: str) -> Column:
        return self.table._meta.get_column_by_name(name)

    async def start(self, owner_id: int, lifetime: timedelta, **extra: str) -> str:
        """A fresh token (the cookie value) for a new session."""
        token = secrets.token_urlsafe(32)
        now = _now()
        values: dict[str, object] = {
            "token_hash": token_hash(token),
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + lifetime,
            self.owner: owner_id,
            **extra,
        }
        await self.table.insert(self.table.from_dict(values))
        return token

    async def resume(self, token: str | None, idle: timedelta) -> dict[str, Any] | None:
        """The session row for a cookie value, unless it has idled out or reached its end
        (then it is deleted)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = token_hash(token)
        row: dict[str, Any] | None = (
            await self.table.select().where(self._column("token_hash") == digest).first()
        )
        if row is None:
            return None
        now = _now()
        if row["expires_at"] <= now or now - row["last_seen_at"] > idle:
            await self.table.delete().where(self._column("id") == row["id"])
            return None
        if now - row["last_seen_at"] > TOUCH_EVERY:
            await self.table.update({self._column("last_seen_at"): now}).where(
                self._column("id") == row["id"]
            )
        return row

    async def end(self, digest: str) -> None:
        """Sign out this browser."""
        await self.table.delete().where(self._column("token_hash") == digest)

    async def end_all(self, owner_id: int) -> None:
        """Sign out everywhere (also when the account is locked or its factor reset)."""
        await self.table.delete().where(self._column(self.owner) == owner_id)
