"""Guessing limits that slow an attacker, not the owner.

Every attempt is counted *before* the secret is checked, by one atomic
``INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING`` per counter (SQLite ≥ 3.35 and
PostgreSQL): the database decides whether the attempt may go ahead, so parallel guesses
cannot slip past a limit between a read and a write. An attempt that then succeeds (or was
no guess, like a password that breaks the rules) is given back.

A sign-in passes three counters, in this order, and stops at the first that refuses:

* the **pair** (account name x client address): a few quick tries for typos, then a pause
  that doubles with each further attempt; this is what slows one guesser down;
* the **client** address: a cap on guesses across all accounts (spraying);
* the **account**, from any client: a ceiling set above what one client can reach through
  its pair pauses in the same window, so one attacker address cannot lock the owner out;
  only many addresses together can, and then only until the window ends.

Counters are keyed by what was typed (hashed), whether or not such an account exists, so an
unknown name is counted, paused and refused exactly like a known one: the answers do not
tell them apart.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dokportal import metrics
from dokportal.lib.errors import PortalError, TooManyAttempts
from dokportal.lib.formatting import clock_time
from dokportal.sessions.tables import AttemptCounter

# No counter's window is longer (settings allow at most a day; the pair uses a day).
LONGEST_WINDOW_SECONDS = 24 * 3600

# Milliseconds since the epoch; tests replace it to step through pauses without sleeping.
clock: Callable[[], int] = lambda: int(time.time() * 1000)  # noqa: E731


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` per ``window_seconds``; after ``free`` attempts each further one
    must wait the next of ``pauses`` (seconds; the last repeats) after the one before."""

    attempts: int
    window_seconds: int
    free: int = 0
    pauses: tuple[int, ...] = ()

    def pause_after(self, count: int) -> int:
        """Seconds to wait after the ``count``-th attempt in the window."""
        if not self.pauses or count < self.free:
            return 0
        return self.pauses[min(count - self.free, len(self.pauses) - 1)]

    def burst(self, seconds: int) -> int:
        """The most attempts one client can make through this limit within ``seconds``
        of a fresh window (used to place the account ceiling above it)."""
        if not self.pauses:
            return self.attempts
        count, spent = self.free, 0
        while count < self.attempts:
            spent += self.pause_after(count)
            if spent > seconds:
                break
            count += 1
        return count


def doubling(first: int, cap: int) -> tuple[int, ...]:
    """Pauses ``first, 2·first, 4·first, …`` up to ``cap`` seconds."""
    pauses = [first]
    while pauses[-1] * 2 < cap:
        pauses.append(pauses[-1] * 2)
    pauses.append(cap)
    return tuple(pauses)


def counter_key(scope: str, *parts: str) -> str:
    """``scope:`` plus a hash of the parts: bounded length, nothing typed kept in the clear."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).hexdigest()
    return f"{scope[:24]}:{digest}"


class _Sql:
    """A statement assembled left to right, each value appended as it is placed."""

    def __init__(self) -> None:
        self.text = ""
        self.args: list[object] = []

    def add(self, text: str, *args: object) -> None:
        """``{B}`` is a placeholder for milliseconds: typed as BIGINT, or PostgreSQL would
        infer a 32-bit integer from the literals beside it."""
        self.text += text.replace("{B}", "CAST({} AS BIGINT)")
        self.args += args


# The statement names its table literally (no string building from anything variable).
_NEXT_COUNT = (
    "CASE WHEN attempt_counter.window_start <= {B} THEN 1 ELSE attempt_counter.attempts + 1 END"
)


async def _take(key: str, limit: Limit, now: int) -> bool:
    """Count one attempt if ``limit`` allows it, atomically; False when refused.

    One statement: insert the counter, or update it only while the limit allows (no pause
    running, window run out or below the cap), returning the row only when it counted.
    """
    expired = now - limit.window_seconds * 1000
    sql = _Sql()
    sql.add(
        "INSERT INTO attempt_counter (key, window_start, attempts, blocked_until) "
        "VALUES ({}, {B}, 1, {B}) ON CONFLICT (key) DO UPDATE SET attempts = ",
        key,
        now,
        now + limit.pause_after(1) * 1000,
    )
    sql.add(_NEXT_COUNT, expired)
    sql.add(
        ", window_start = CASE WHEN attempt_counter.window_start <= {B} THEN {B} "
        "ELSE attempt_counter.window_start END, blocked_until = {B} + CASE",
        expired,
        now,
        now,
    )
    # The pause after the attempt now counted: thresholds from the longest pause down.
    thresholds = range(limit.free + len(limit.pauses) - 1, max(limit.free, 1) - 1, -1)
    for count in thresholds if limit.pauses else ():
        sql.add(" WHEN ")
        sql.add(_NEXT_COUNT, expired)
        sql.add(" >= {} THEN {B}", count, limit.pause_after(count) * 1000)
    if not limit.pauses:
        sql.add(" WHEN 1 = 0 THEN 0")
    sql.add(
        " ELSE 0 END WHERE attempt_counter.blocked_until <= {B} AND "
        "(attempt_counter.window_start <= {B} OR attempt_counter.attempts < {}) "
        "RETURNING attempts",
        now,
        expired,
        limit.attempts,
    )
    rows = await AttemptCounter.raw(sql.text, *sql.args)
    return bool(rows)


async def _free_at(key: str, limit: Limit, now: int) -> int:
    """When the refused key lets the next attempt through (for the message only)."""
    row = await AttemptCounter.select().where(AttemptCounter.key == key).first()
    if row is None:
        return now
    candidates = [int(row["blocked_until"])]
    if int(row["attempts"]) >= limit.attempts:
        candidates.append(int(row["window_start"]) + limit.window_seconds * 1000)
    return max(now, *candidates)


async def _give_back(key: str) -> None:
    await AttemptCounter.update({AttemptCounter.attempts: AttemptCounter.attempts - 1}).where(
        (AttemptCounter.key == key) & (AttemptCounter.attempts > 0)
    )


async def forget(key: str) -> None:
    await AttemptCounter.delete().where(AttemptCounter.key == key)


async def forget_stale() -> int:
    """Delete counters whose window and pause are over (they would start afresh anyway);
    run by the periodic task, so the table holds only the last day's attempts."""
    now = clock()
    gone = (
        await AttemptCounter.delete()
        .where(
            (AttemptCounter.window_start < now - LONGEST_WINDOW_SECONDS * 1000)
            & (AttemptCounter.blocked_until <= now)
        )
        .returning(AttemptCounter.id)
    )
    return len(gone)


@dataclass
class Attempt:
    """The counters one attempt went through; see :func:`guarded`."""

    taken: list[str] = field(default_factory=list)
    # Counters whose history the success wipes (the pair: the owner typed it right).
    reset_on_success: list[str] = field(default_factory=list)
    # Set by the caller when the failure was no guess (e.g. a too-short new password).
    not_a_guess: bool = False

    async def give_back(self) -> None:
        for key in self.taken:
            await _give_back(key)
        self.taken = []

    async def succeeded(self) -> None:
        for key in self.reset_on_success:
            await forget(key)
        await self.give_back()


async def take(counters: list[tuple[str, Limit]], timezone: str = "UTC") -> Attempt:
    """Count the attempt in every counter, in order; refuse at the first that is full.

    The refusal names the time the refusing counter lets attempts through again; because
    every counter is keyed by what was typed, that time is the same for any name.
    """
    now = clock()
    attempt = Attempt()
    for key, limit in counters:
        if not await _take(key, limit, now):
            metrics.THROTTLED.labels(metrics.guard_scope(key)).inc()
            until = await _free_at(key, limit, now)
            raise TooManyAttempts(
                "Too many attempts. Please try again after %(time)s.",
                time=clock_time(datetime.fromtimestamp(until / 1000 + 59, UTC), timezone),
            )
        attempt.taken.append(key)
    return attempt


@asynccontextmanager
async def guarded(
    counters: list[tuple[str, Limit]],
    *,
    reset_on_success: tuple[str, ...] = (),
    timezone: str = "UTC",
) -> AsyncIterator[Attempt]:
    """Count an attempt before the block checks the secret.

    The block raising a :class:`PortalError` is a failed guess and stays counted (unless it
    marks ``not_a_guess``); a block that returns normally gives its attempt back and wipes
    ``reset_on_success``; any other exception gives the attempt back too (nothing was
    learned by the guesser from a server fault).
    """
    attempt = await take(counters, timezone)
    attempt.reset_on_success = [key for key in reset_on_success if key in attempt.taken]
    try:
        yield attempt
    except PortalError:
        if attempt.not_a_guess:
            await attempt.give_back()
        elif counters:
            metrics.SIGNIN_FAILURES.labels(metrics.guard_scope(counters[0][0])).inc()
        raise
    except BaseException:
        await attempt.give_back()
        raise
    await attempt.succeeded()
