"""The SQLite engine keeps connections open while the app runs, and never reuses a broken one.

Queries go through Piccolo's public ``run_ddl``, which runs any SQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from dokportal.sqlite_pool import PooledSQLiteEngine


@pytest.fixture
async def engine(tmp_path: Path) -> PooledSQLiteEngine:
    engine = PooledSQLiteEngine(str(tmp_path / "pool.sqlite3"), pool_size=4, timeout=30)
    await engine.run_ddl("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
    return engine


async def names(engine: PooledSQLiteEngine) -> list[str]:
    rows = await engine.run_ddl("SELECT name FROM item ORDER BY id")
    return [row["name"] for row in rows]


def connection_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name}


async def test_without_a_pool_no_connection_is_kept(engine: PooledSQLiteEngine) -> None:
    before = connection_threads()
    await names(engine)
    assert engine.idle_connections == 0
    for thread in connection_threads() - before:
        thread.join(timeout=10)  # its connection was closed: the thread ends by itself
        assert not thread.is_alive()


async def test_queries_reuse_one_connection_and_commit_each_statement(
    engine: PooledSQLiteEngine, tmp_path: Path
) -> None:
    await engine.start_connection_pool()
    for n in range(20):
        await engine.run_ddl(f"INSERT INTO item (name) VALUES ('n{n}')")  # noqa: S608
    assert engine.idle_connections == 1
    # Committed: another connection (the sqlite3 module, outside the engine) sees every row.
    with sqlite3.connect(tmp_path / "pool.sqlite3") as other:
        assert other.execute("SELECT count(*) FROM item").fetchone() == (20,)
    await engine.close_connection_pool()
    assert engine.idle_connections == 0
    assert len(await names(engine)) == 20  # still works, one connection per query again


async def test_concurrent_queries_open_more_but_keep_at_most_pool_size(
    engine: PooledSQLiteEngine,
) -> None:
    await engine.start_connection_pool()
    results = await asyncio.gather(*(names(engine) for _ in range(12)))
    assert all(result == [] for result in results)
    assert 1 <= engine.idle_connections <= 4
    await engine.close_connection_pool()


async def test_a_failed_query_does_not_return_its_connection(engine: PooledSQLiteEngine) -> None:
    await engine.start_connection_pool()
    await engine.run_ddl("INSERT INTO item (name) VALUES ('a')")
    assert engine.idle_connections == 1
    with pytest.raises(sqlite3.IntegrityError):
        await engine.run_ddl("INSERT INTO item (name) VALUES ('a')")
    assert engine.idle_connections == 0
    assert await names(engine) == ["a"]
    await engine.close_connection_pool()


async def test_transactions_borrow_a_kept_connection_and_give_it_back(
    engine: PooledSQLiteEngine,
) -> None:
    await engine.start_connection_pool()
    await names(engine)
    assert engine.idle_connections == 1
    async with engine.transaction():
        assert engine.idle_connections == 0  # lent to the transaction
        await engine.run_ddl("INSERT INTO item (name) VALUES ('kept')")
    assert engine.idle_connections == 1
    assert await names(engine) == ["kept"]

    async def insert_then_fail() -> None:
        async with engine.transaction():
            await engine.run_ddl("INSERT INTO item (name) VALUES ('rolled back')")
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        await insert_then_fail()
    assert await names(engine) == ["kept"]
    assert engine.idle_connections == 1
    await engine.close_connection_pool()


async def test_a_connection_still_inside_a_transaction_is_not_kept(
    engine: PooledSQLiteEngine,
) -> None:
    await engine.start_connection_pool()
    lease = await engine.get_connection()
    await lease.execute("BEGIN IMMEDIATE")
    await lease.close()  # as if the ROLLBACK had failed
    assert engine.idle_connections == 0
    with pytest.raises(RuntimeError, match="given back"):
        await lease.execute("SELECT 1")
    # The write lock went with the closed connection: others can write.
    await engine.run_ddl("INSERT INTO item (name) VALUES ('after')")
    assert await names(engine) == ["after"]
    await engine.close_connection_pool()
