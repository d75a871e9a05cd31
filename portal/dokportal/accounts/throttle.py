"""Fixed-window counters of failed attempts in the database, shared by every replica.

Only failures count: a jobcenter's public terminals or a household behind one address may
sign in many times legitimately, while guessing shows up as failures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from dokportal.accounts.tables import Throttle
from dokportal.lib.errors import PortalError, TooManyAttempts
from dokportal.lib.formatting import clock_time


async def ensure_allowed(key: str, limit: int, window: timedelta, timezone: str = "UTC") -> None:
    """Raise :class:`TooManyAttempts` while ``key`` has ``limit`` failures in its window."""
    row = await Throttle.objects().where(Throttle.key == key).first()
    if row is None or row.attempts < limit:
        return
    now = datetime.now(UTC)
    if now - row.window_start >= window:
        return
    raise TooManyAttempts(
        "Too many attempts. Please try again after %(time)s.",
        time=clock_time(row.window_start + window, timezone),
    )


async def record_failure(key: str, window: timedelta) -> None:
    """Count one failure; a window that has run out starts again at one."""
    now = datetime.now(UTC)
    row = await Throttle.objects().where(Throttle.key == key).first()
    if row is None:
        await Throttle.insert(Throttle(key=key, window_start=now, attempts=1)).on_conflict(
            action="DO NOTHING"
        )
    elif now - row.window_start >= window:
        await Throttle.update({Throttle.window_start: now, Throttle.attempts: 1}).where(
            Throttle.key == key
        )
    else:
        await Throttle.update({Throttle.attempts: Throttle.attempts + 1}).where(Throttle.key == key)


@asynccontextmanager
async def counting_failures(
    key: str, limit: int, window: timedelta, timezone: str = "UTC"
) -> AsyncIterator[None]:
    """Refuse while ``key`` is over its limit; count a failure when the block raises one
    of our user-facing errors (wrong password, wrong code, locked account)."""
    await ensure_allowed(key, limit, window, timezone)
    try:
        yield
    except PortalError:
        await record_failure(key, window)
        raise


async def hit(key: str, limit: int, window: timedelta, timezone: str = "UTC") -> None:
    """Count every attempt: for requests whose success and failure must look the same
    (an access request answers identically either way), so only the count can limit them."""
    await ensure_allowed(key, limit, window, timezone)
    await record_failure(key, window)
