"""Which failures count as outages (503, one line) and which stay bugs (500, traceback)."""

from __future__ import annotations

import errno
import logging
import sqlite3

import asyncpg
import pytest

from dokportal.lib.outages import describe, outage_of, quiet_driver_tracebacks
from dokportal.storage.errors import StorageUnavailable


def chained(cause: BaseException) -> BaseException:
    """``cause`` wrapped the way Piccolo and Litestar wrap driver errors."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("query failed") from inner
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
        OSError(errno.EHOSTUNREACH, "No route to host"),
        TimeoutError(),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
        asyncpg.InterfaceError("connection is closed"),
        sqlite3.OperationalError("unable to open database file"),
        sqlite3.OperationalError("database is locked"),
        StorageUnavailable("S3 endpoint down"),
    ],
)
def test_outages(error: BaseException) -> None:
    assert outage_of(error) is error
    assert outage_of(chained(error)) is error


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad"),
        KeyError("x"),
        FileNotFoundError(errno.ENOENT, "no such file"),
        sqlite3.OperationalError("no such table: customer"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.exceptions.UndefinedColumnError("column x does not exist"),
    ],
)
def test_bugs_stay_bugs(error: BaseException) -> None:
    assert outage_of(error) is None
    assert outage_of(chained(error)) is None


def test_describe_is_one_short_line() -> None:
    error = ConnectionRefusedError(111, "Connect call failed\nmore")
    assert describe(error) == "ConnectionRefusedError: [Errno 111] Connect call failed"


def test_the_pool_reconnect_warning_loses_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    quiet_driver_tracebacks()
    quiet_driver_tracebacks()  # idempotent
    logger = logging.getLogger("asyncpg.pool")
    assert len(logger.filters) == 1
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except ConnectionRefusedError:
        logger.warning("Failed to restore the pool connection floor; retrying", exc_info=True)
    (record,) = caplog.records
    assert record.exc_info is None
    assert record.getMessage() == (
        "Failed to restore the pool connection floor; retrying: "
        "ConnectionRefusedError: [Errno 111] Connect call failed"
    )
