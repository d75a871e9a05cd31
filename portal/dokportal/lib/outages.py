"""Telling an outage (database or blob store unreachable) from a bug.

An outage is not the portal's fault and not the user's: it gets a 503 "temporarily
unavailable" page with ``Retry-After`` and one log line, where a bug gets a 500 and a
traceback. The errors come from several drivers (asyncpg, sqlite3, botocore via our storage
layer, the OS), often wrapped by Piccolo or Litestar, so the whole cause chain is examined.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

import asyncpg

from dokportal.storage.errors import StorageUnavailable

_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.EIO,
        errno.ENOSPC,
    }
)

_ASYNCPG_OUTAGES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # cannot connect, connection lost
    asyncpg.exceptions.OperatorInterventionError,  # admin/crash shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
)

_SQLITE_OUTAGES = ("unable to open database file", "disk i/o error", "database is locked")

RETRY_AFTER_SECONDS = 120
"""What the 503 asks clients to wait: "a few minutes", short enough for a restart."""


def outage_of(error: BaseException) -> BaseException | None:
    """The exception in ``error``'s cause chain that shows an outage, or None for a bug."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_outage(current):
            return current
        current = current.__cause__ or current.__context__
    return None


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, (StorageUnavailable, TimeoutError, ConnectionError, *_ASYNCPG_OUTAGES)):
        return True
    if isinstance(error, asyncpg.InterfaceError):
        # "connection is closed", "pool is closing"; other interface errors are our bugs.
        return any(text in str(error) for text in ("closed", "closing"))
    if isinstance(error, sqlite3.OperationalError):
        return any(text in str(error).lower() for text in _SQLITE_OUTAGES)
    return isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS


def describe(error: BaseException) -> str:
    """One short, secret-free line: the exception's type and first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


class _OneLine(logging.Filter):
    """Turns a driver's traceback into one line: during an outage asyncpg's pool logs one
    each time it retries to reconnect, which says nothing the first line does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {describe(record.exc_info[1])}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_ONE_LINE = _OneLine()


def quiet_driver_tracebacks() -> None:
    """Install the one-line filter on the drivers' loggers (idempotent)."""
    for name in ("asyncpg.pool", "asyncpg.connection"):
        logger = logging.getLogger(name)
        if _ONE_LINE not in logger.filters:
            logger.addFilter(_ONE_LINE)
