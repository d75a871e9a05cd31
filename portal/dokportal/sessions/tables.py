"""Attempt counters for every guessable form (sign-in, codes, activation, access requests)."""

from __future__ import annotations

from piccolo.columns import BigInt, Integer, Serial, Varchar
from piccolo.table import Table


class AttemptCounter(Table, tablename="attempt_counter"):
    """Attempts per key in a fixed window, shared by every replica.

    Times are milliseconds since the epoch, so one SQL statement can compare and add them
    the same way on SQLite and PostgreSQL (see :mod:`dokportal.sessions.limits`). Keys hold
    a hash of what was typed, never a customer number or user name in the clear.
    """

    id = Serial(primary_key=True)

    key = Varchar(length=96, unique=True, index=True)
    window_start = BigInt(default=0)
    attempts = Integer(default=0)
    # No attempt is let through before this moment (the progressive pause).
    blocked_until = BigInt(default=0)
