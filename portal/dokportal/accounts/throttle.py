"""Fixed-window attempt counters in the database, so every replica sees the same count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dokportal.accounts.tables import Throttle
from dokportal.lib.errors import TooManyAttempts
from dokportal.lib.formatting import clock_time


async def hit(key: str, limit: int, window: timedelta, timezone: str = "UTC") -> None:
    """Count one attempt for ``key``; raise :class:`TooManyAttempts` once over ``limit``."""
    now = datetime.now(UTC)
    row = await Throttle.objects().where(Throttle.key == key).first()
    if row is None:
        await Throttle.insert(Throttle(key=key, window_start=now, attempts=1)).on_conflict(
            action="DO NOTHING"
        )
        return
    if now - row.window_start >= window:
        await Throttle.update({Throttle.window_start: now, Throttle.attempts: 1}).where(
            Throttle.key == key
        )
        return
    if row.attempts >= limit:
        raise TooManyAttempts(
            "Too many attempts. Please try again after %(time)s.",
            time=clock_time(row.window_start + window, timezone),
        )
    await Throttle.update({Throttle.attempts: Throttle.attempts + 1}).where(Throttle.key == key)


async def reset(key: str) -> None:
    await Throttle.delete().where(Throttle.key == key)
