"""The database part of a backup: a consistent snapshot, and what that snapshot refers to.

We use each database's own tool rather than a dump format of ours: SQLite's online backup
API and PostgreSQL's ``pg_dump`` both copy one transaction-consistent snapshot, with every
type, index, constraint and sequence exactly as it was, and no code of ours that could
drop a column nobody remembered. The price: a backup restores into the same kind of
database it came from (docs/operations.md says so).

Consistency with the blobs comes from reading the referenced blob ids *from the same
snapshot* as the dump: for SQLite out of the finished copy, for PostgreSQL in a
repeatable-read transaction whose snapshot ``pg_dump --snapshot`` is told to use.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio.to_thread
import asyncpg

from dokportal.backup.errors import BackupError

SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"

COUNTED = {
    "stored_files": "stored_file",
    "submission_files": "submission_file",
    "notices": "notice",
    "customers": "customer",
    "staff": "staff_account",
    "audit_events": "audit_event",
}
"""What the manifest counts (manifest key -> table), for a reader to judge a backup."""

KEY_IDS = (
    "SELECT key_id FROM stored_file WHERE wrapped_key != '' "
    "UNION SELECT totp_key_id FROM staff_account WHERE totp_wrapped != ''"
)
"""The keyring keys the snapshot's rows need (see wrapped_secrets.KINDS)."""


@dataclass(frozen=True)
class DatabaseDump:
    kind: str  # "sqlite" | "postgresql"
    file: str
    blob_ids: frozenset[str]
    key_ids: frozenset[str]
    counts: dict[str, int]


def kind_of(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise BackupError(f"unsupported database URL scheme {scheme!r}")


def sqlite_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path.removeprefix("/")))


def _pg_env(url: str) -> dict[str, str]:
    """libpq's variables: the password never appears on a command line (``ps``)."""
    parts = urlsplit(url)
    return {
        **os.environ,
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": parts.path.lstrip("/"),
    }


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client (postgresql-client)")
    return found


# -- dump --


async def dump(url: str, folder: Path) -> DatabaseDump:
    """Write the snapshot into ``folder``; return what it refers to."""
    if kind_of(url) == "sqlite":
        return _dump_sqlite(sqlite_path(url), folder / SQLITE_FILE)
    return await _dump_postgres(url, folder / PG_FILE)


def _dump_sqlite(source: Path, target: Path) -> DatabaseDump:
    if not source.exists():
        raise BackupError(f"database file {source} does not exist")
    _private_new_file(target)
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.backup(copy)  # online: writers carry on; the copy is one consistent state
    live.close()
    copy.close()
    with sqlite3.connect(target) as copy:
        blob_ids = frozenset(row[0] for row in copy.execute("SELECT blob_id FROM stored_file"))
        key_ids = frozenset(row[0] for row in copy.execute(KEY_IDS) if row[0])
        counts = {
            name: int(copy.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
            for name, table in COUNTED.items()
        }
    copy.close()
    return DatabaseDump("sqlite", SQLITE_FILE, blob_ids, key_ids, counts)


def _private_new_file(path: Path) -> None:
    """The dump holds every name and message: 0600 from the first byte, whatever the umask."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


async def _dump_postgres(url: str, target: Path) -> DatabaseDump:
    _private_new_file(target)  # pg_dump truncates and fills it, keeping the mode
    connection = await asyncpg.connect(url)
    try:
        transaction = connection.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
        rows = await connection.fetch("SELECT blob_id FROM stored_file")
        key_ids = frozenset(row[0] for row in await connection.fetch(KEY_IDS) if row[0])
        counts = {
            name: int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
            for name, table in COUNTED.items()
        }
        # pg_dump reads the very snapshot the blob ids came from (the transaction stays
        # open until it is done).
        command = [
            _tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-acl",
            f"--snapshot={snapshot}",
            f"--file={target}",
        ]
        await anyio.to_thread.run_sync(_run, command, url)
        await transaction.rollback()
    finally:
        await connection.close()
    blob_ids = frozenset(row[0] for row in rows)
    return DatabaseDump("postgresql", PG_FILE, blob_ids, key_ids, counts)


def _run(command: Sequence[str], url: str) -> None:
    result = subprocess.run(  # noqa: S603 - fixed tool, arguments of ours
        command, env=_pg_env(url), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()[-2000:]}")


# -- restore --


async def rows_in_target(url: str, tables: Sequence[str]) -> int:
    """How many rows the target holds in our tables (0 for a fresh instance)."""
    if kind_of(url) == "sqlite":
        path = sqlite_path(url)
        if not path.exists():
            return 0
        with sqlite3.connect(path) as connection:
            present = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            total = sum(
                int(connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # noqa: S608
                for t in tables
                if t in present
            )
        connection.close()
        return total
    connection = await asyncpg.connect(url)
    try:
        total = 0
        for table in tables:
            if await connection.fetchval("SELECT to_regclass($1)", f"public.{table}"):
                total += int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
        return total
    finally:
        await connection.close()


def load(url: str, folder: Path, kind: str) -> None:
    """Put the snapshot into the (checked empty) target database."""
    if kind_of(url) != kind:
        raise BackupError(
            f"this backup holds a {kind} database; the target is {kind_of(url)} "
            "(restore into the same kind of database)"
        )
    if kind == "sqlite":
        target = sqlite_path(url)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not target.exists():
            _private_new_file(target)
        with sqlite3.connect(folder / SQLITE_FILE) as source, sqlite3.connect(target) as live:
            source.backup(live)  # replaces the (empty) target's pages in one go
        source.close()
        live.close()
        return
    # The target's empty tables (a migrated fresh instance) are dropped and made again.
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={_pg_env(url)['PGDATABASE']}",
            str(folder / PG_FILE),
        ],
        url,
    )
