"""Binds Piccolo's tables to the database named in the settings.

Piccolo finds its engine through ``piccolo_conf.DB``; we build that engine from
``Settings.database_url`` at start-up instead of at import time, so one process (and the test
suite) can choose SQLite or PostgreSQL without a second configuration file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

from dokportal.settings import Settings
from dokportal.sqlite_pool import PooledSQLiteEngine

_engine: Engine[Any] | None = None


def build_engine(database_url: str) -> Engine[Any]:
    """An engine for ``sqlite:///relative/or//absolute/path`` or ``postgresql://…``."""
    parts = urlsplit(database_url)
    if parts.scheme == "sqlite":
        path = Path(unquote(parts.path.removeprefix("/")))
        _private_file(path)
        # WAL lets readers proceed during an upload's commit; busy timeout covers CLI + server.
        return PooledSQLiteEngine(path=str(path), timeout=30)
    return PostgresEngine(
        config={
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "database": parts.path.lstrip("/"),
        },
        log_queries=False,
    )


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 in a 0700 folder (SQLite gives its -wal and -shm files the
    database's mode), and tighten one an older version left readable: it holds names, dates
    of birth and messages."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        status = path.stat()
        if status.st_mode & 0o077 and status.st_uid == os.getuid():
            path.chmod(0o600)


def all_tables() -> list[type[Table]]:
    """Every table of every domain, in dependency order."""
    from dokportal.accounts.tables import AccessRequest, ActivationCode, Customer
    from dokportal.accounts.tables import Session as SessionRow
    from dokportal.api.tables import ApiToken
    from dokportal.audit.tables import AuditEvent
    from dokportal.documents.tables import Submission, SubmissionFile
    from dokportal.files.tables import StoredFile
    from dokportal.mail.tables import MailJob
    from dokportal.notices.tables import Notice
    from dokportal.sessions.tables import AttemptCounter
    from dokportal.staff.tables import OidcLogin, RecoveryCode, StaffAccount, StaffSession, Team
    from dokportal.workspace.tables import Note

    return [
        AttemptCounter,
        Team,
        StaffAccount,
        StaffSession,
        RecoveryCode,
        OidcLogin,
        Customer,
        AccessRequest,
        ActivationCode,
        SessionRow,
        StoredFile,
        Submission,
        SubmissionFile,
        Notice,
        Note,
        MailJob,
        ApiToken,
        AuditEvent,
    ]


def configure(settings: Settings) -> Engine[Any]:
    """Create the engine for ``settings`` and point every table (and Piccolo) at it."""
    global _engine
    from piccolo.apps.migrations.tables import Migration

    engine = build_engine(settings.database_url.get_secret_value())
    # Piccolo's own bookkeeping table caches its engine too; rebind it with ours.
    tables: list[type[Table]] = [*all_tables(), Migration]
    for table in tables:
        table._meta.db = engine
    _engine = engine
    return engine


def current_engine() -> Engine[Any]:
    """The engine chosen by :func:`configure`; Piccolo's migration runner asks for it."""
    if _engine is None:
        from dokportal.settings import get_settings

        return configure(get_settings())
    return _engine


async def prepare(engine: Engine[Any]) -> None:
    """Per-connection tuning that the migrations do not cover."""
    if isinstance(engine, SQLiteEngine):
        await engine.run_ddl("PRAGMA journal_mode=WAL")


async def open_pool(engine: Engine[Any]) -> None:
    """While the app runs, both engines keep connections open (see :mod:`sqlite_pool`)."""
    if isinstance(engine, PostgresEngine | PooledSQLiteEngine):
        await engine.start_connection_pool()


async def close_pool(engine: Engine[Any]) -> None:
    if isinstance(engine, PostgresEngine | PooledSQLiteEngine):
        await engine.close_connection_pool()


async def migrate() -> None:
    """Apply all pending migrations of every domain (idempotent)."""
    await prepare(current_engine())
    await run_forwards(app_name="all")
