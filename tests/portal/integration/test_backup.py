"""Back up a tenant, destroy it, restore it into a fresh instance: everything is there.

On SQLite with a blob folder and on PostgreSQL with an S3 bucket (SeaweedFS): documents,
notices, a staff member with TOTP and the audit trail survive, also across a key rotation
before the backup; a second backup copies only the new blobs. The refusals (another slug,
a wrong passphrase, a non-empty target) and the command line itself run as real processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from dokportal import db
from dokportal.app import create_app
from dokportal.audit.services import verify_chain
from dokportal.backup import BackupError, make_backup, restore_backup, verify_backup
from dokportal.crypto import Keyring
from dokportal.files.tables import StoredFile
from dokportal.settings import Settings
from dokportal.staff.services import ensure_team
from dokportal.wrapped_secrets import rewrap_all
from tests.portal.conftest import activate, make_settings, new_customer, portal_client, sign_in
from tests.portal.helpers import send_notice_to
from tests.portal.integration.staff.conftest import make_staff, put_in_team, upload, use
from tests.portal.integration.test_rotation import _staff_sign_in
from tests.support import documents
from tests.support.appliance import cli
from tests.support.seaweed import SeaweedS3

PASSPHRASE = "Grüne Wiese am Bergsee 2026"


@pytest.fixture
def keep_db_binding() -> Iterator[None]:
    """These tests point Piccolo at their own databases; put the session's binding back."""
    engine = db._engine
    bound = {table: table._meta.db for table in db.all_tables()}
    yield
    db._engine = engine
    for table, previous in bound.items():
        table._meta.db = previous


@dataclass
class Flavour:
    name: str
    new_database: Any  # () -> awaitable url
    new_storage: Any  # (tmp path) -> storage settings dict


async def _new_pg_database(admin_url: str) -> str:
    name = f"restore_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(params=["sqlite+folder", pytest.param("postgresql+s3", marks=pytest.mark.s3)])
def flavour(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flavour]:
    if request.param == "sqlite+folder":

        async def sqlite_db() -> str:
            return f"sqlite:///{tmp_path / secrets.token_hex(4)}.sqlite3"

        def folder(base: Path) -> dict[str, object]:
            (base / "blobs").mkdir(mode=0o700, parents=True, exist_ok=True)
            return {"kind": "folder", "folder": base / "blobs"}

        yield Flavour(request.param, sqlite_db, folder)
        return
    admin_url: str = request.getfixturevalue("postgres_url")
    seaweed: SeaweedS3 = request.getfixturevalue("seaweed")
    client = seaweed.client()
    buckets: list[str] = []

    made: list[str] = []

    async def pg_db() -> str:
        made.append(await _new_pg_database(admin_url))
        return made[-1]

    def bucket(base: Path) -> dict[str, object]:
        name = f"restore-{secrets.token_hex(6)}"
        client.create_bucket(Bucket=name)
        buckets.append(name)
        return {
            "kind": "s3",
            "s3_endpoint": seaweed.endpoint_url,
            "s3_bucket": name,
            "s3_access_key": seaweed.access_key,
            "s3_secret_key": seaweed.secret_key,
        }

    yield Flavour(request.param, pg_db, bucket)
    for name in buckets:
        client.delete_bucket(Bucket=name)  # SeaweedFS deletes non-empty buckets
    asyncio.run(_drop_databases(admin_url, made))


async def _drop_databases(admin_url: str, urls: list[str]) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        for url in urls:
            name = urlsplit(url).path[1:]
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _instance(flavour: Flavour, base: Path, *, keyring: bool) -> Settings:
    base.mkdir(mode=0o700)
    url = await flavour.new_database()
    settings = make_settings(base, url, storage=flavour.new_storage(base))
    if not keyring:
        settings.keyring_path.unlink()
    db.configure(settings)
    await db.migrate()  # a fresh instance: the operator's migration Job has run
    return settings


async def _destroy(settings: Settings) -> None:
    """The disaster: database, blobs and keyring gone."""
    from dokportal.storage.factory import build_store

    store = build_store(settings.storage)
    doomed = [info.blob_id async for info in store.list_blobs()]
    for blob_id in doomed:
        await store.delete(blob_id)
    url = settings.database_url.get_secret_value()
    if url.startswith("sqlite"):
        for table in reversed(db.all_tables()):
            await table.delete(force=True)
    else:
        parts = urlsplit(url)
        admin = urlunsplit(parts._replace(path="/dokportal"))
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE "{parts.path[1:]}" WITH (FORCE)')
        finally:
            await connection.close()
    settings.keyring_path.unlink()


async def test_back_up_destroy_restore_everything_is_there(
    flavour: Flavour, tmp_path: Path, keep_db_binding: None
) -> None:
    source = await _instance(flavour, tmp_path / "source", keyring=True)
    tenant = source.tenant.slug
    originals: dict[str, bytes] = {}
    async with portal_client(create_app(source)) as client:
        person = await new_customer()
        assert (await activate(client, person)).status_code == 303
        customer_cookies = dict(client.cookies)
        await ensure_team("team-a")
        await put_in_team(person.number, "team-a")
        payslip, rent = documents.pdf("Lohnabrechnung"), documents.pdf("Mietvertrag")
        reference = await upload(
            client, ("lohn.pdf", payslip, "application/pdf"), ("miete.pdf", rent, "application/pdf")
        )
        originals[f"/staff/submissions/{reference}/files/0"] = payslip
        originals[f"/staff/submissions/{reference}/files/1"] = rent
        letter = documents.pdf("Bewilligungsbescheid")
        notice = await send_notice_to(source, person.number, "Bescheid", letter)
        originals[f"/notices/{notice.id}/file"] = letter
        lead = await make_staff(source, "lena", "team_lead", "team-a")
        await _staff_sign_in(client, lead)  # audit events of a sign-in, too

    target = tmp_path / "backup"
    first = await make_backup(source, target, PASSPHRASE)
    assert (first.blobs_referenced, first.blobs_copied) == (3, 3)
    assert first.counts["staff"] == 1 and first.counts["notices"] == 1
    assert first.counts["audit_events"] > 0

    # A key rotation (new primary, everything rewrapped), then one more notice: the second
    # backup copies only that notice's blob and carries the rotated keyring.
    old = Keyring.load(source.keyring_path)
    rotated = old.with_new_primary()
    rotated.save(source.keyring_path)
    await rewrap_all(rotated, tenant)
    rotated.without_key(old.primary_id).save(source.keyring_path)
    second_letter = documents.pdf("Änderungsbescheid")
    second_notice = await send_notice_to(source, person.number, "Änderung", second_letter)
    originals[f"/notices/{second_notice.id}/file"] = second_letter
    second = await make_backup(source, target, PASSPHRASE)
    assert (second.blobs_referenced, second.blobs_copied) == (4, 1)
    assert len(list((target / "snapshots").iterdir())) == 2
    sealed = (second.folder / "keyring.sealed").read_bytes()
    for key_id in Keyring.load(source.keyring_path).ids:  # never in plain text
        material = Keyring.load(source.keyring_path).key(key_id)
        assert material not in sealed and key_id.encode() not in sealed

    await _destroy(source)
    fresh = await _instance(flavour, tmp_path / "fresh", keyring=False)
    started = time.monotonic()
    restored = await restore_backup(fresh, target, PASSPHRASE)
    seconds = time.monotonic() - started
    print(f"\nrecovery time ({flavour.name}, 4 files): {seconds:.2f} s")
    assert restored.verify.ok, restored.verify.problems
    assert restored.blobs == 4 and restored.verify.decrypted == 4
    assert stat.S_IMODE(fresh.keyring_path.stat().st_mode) == 0o600
    assert Keyring.load(fresh.keyring_path).primary_id == rotated.primary_id
    assert (await verify_chain()).ok

    async with portal_client(create_app(fresh)) as client:
        assert (await client.get("/readyz")).status_code == 200
        await _staff_sign_in(client, lead, ahead=1)  # TOTP secret unwraps with the new key
        for path, content in originals.items():
            if path.startswith("/notices"):
                continue
            response = await client.get(path)
            assert response.status_code == 200, path
            assert hashlib.sha256(response.content).digest() == hashlib.sha256(content).digest()
        use(client, customer_cookies)
        assert (await sign_in(client, person.number)).status_code == 303
        for path, content in originals.items():
            if path.startswith("/notices"):
                response = await client.get(path)
                assert response.status_code == 200, path
                assert hashlib.sha256(response.content).digest() == hashlib.sha256(content).digest()
    rows = await StoredFile.select(StoredFile.sha256).output(as_list=True)
    assert sorted(rows) == sorted(hashlib.sha256(c).hexdigest() for c in originals.values())

    # The backup verifies on its own, too (PostgreSQL needs an empty scratch database).
    scratch = None if flavour.name.startswith("sqlite") else await flavour.new_database()
    manifest, report = await verify_backup(
        target, PASSPHRASE, sample=0, scratch_database_url=scratch
    )
    assert report.ok, report.problems
    assert (report.referenced, report.decrypted) == (4, 4) and manifest["tenant"] == tenant

    # The snapshot from before the rotation carries the keyring of its time: it restores too.
    older = await _instance(flavour, tmp_path / "older", keyring=False)
    before = await restore_backup(older, target, PASSPHRASE, snapshot=first.snapshot)
    assert before.verify.ok and (before.blobs, before.verify.decrypted) == (3, 3)
    assert Keyring.load(older.keyring_path).primary_id == old.primary_id


async def test_restore_refuses_a_non_empty_target(
    flavour: Flavour, tmp_path: Path, keep_db_binding: None
) -> None:
    source = await _instance(flavour, tmp_path / "source", keyring=True)
    await send_notice_to(source, (await new_customer()).number, "Bescheid", documents.pdf())
    target = tmp_path / "backup"
    kept = source.keyring_path.read_bytes()
    # A keyring that lacks a key the rows use (a rotation under way): no snapshot at all.
    Keyring.generate().save(source.keyring_path)
    with pytest.raises(BackupError, match="keyring lacks key"):
        await make_backup(source, target, PASSPHRASE)
    assert list((target / "snapshots").iterdir()) == []
    source.keyring_path.write_bytes(kept)
    await make_backup(source, target, PASSPHRASE)
    with pytest.raises(BackupError, match="keyring already exists"):
        await restore_backup(source, target, PASSPHRASE)
    source.keyring_path.unlink()
    with pytest.raises(BackupError, match="target database is not empty"):
        await restore_backup(source, target, PASSPHRASE)
    assert not source.keyring_path.exists()

    storage_only = await _instance(flavour, tmp_path / "half", keyring=False)
    from dokportal.storage.base import write_blob
    from dokportal.storage.factory import build_store

    async def one_chunk() -> AsyncIterator[bytes]:
        yield b"x"

    await write_blob(build_store(storage_only.storage), "leftover-blob", one_chunk())
    with pytest.raises(BackupError, match="target blob store is not empty"):
        await restore_backup(storage_only, target, PASSPHRASE)
    assert not storage_only.keyring_path.exists()
    source.keyring_path.write_bytes(kept)


# -- the command line, as an operator runs it (SQLite, blob folder) --


def _env(**extra: str) -> dict[str, str]:
    return {"DOKPORTAL_BACKUP_PASSPHRASE": PASSPHRASE, **extra}


def _seed(workdir: Path) -> None:
    workdir.mkdir()
    assert cli(workdir, "keys", "init").returncode == 0
    assert cli(workdir, "migrate").returncode == 0
    made = cli(workdir, "customer", "create", "--number", "123D000009", "--name", "Test")
    assert made.returncode == 0, made.stderr
    assert (workdir / "var" / "blobs").is_dir()  # migrate made it
    letter = workdir / "letter.pdf"
    letter.write_bytes(documents.pdf())
    sent = cli(workdir, "notice", "send", "--customer", "123D000009", str(letter))
    assert sent.returncode == 0, sent.stderr


def _nothing_written(workdir: Path) -> None:
    assert not (workdir / "var" / "keyring.json").exists()
    assert not (workdir / "var" / "dokportal.sqlite3").exists()


def test_command_line_backup_refusals_restore_and_verify(tmp_path: Path) -> None:
    source = tmp_path / "source"
    _seed(source)
    target = tmp_path / "backup"
    short = cli(source, "backup", "--to", str(target), env={"DOKPORTAL_BACKUP_PASSPHRASE": "kurz"})
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    made = cli(source, "backup", "--to", str(target), env=_env())
    assert made.returncode == 0, made.stderr
    assert "blobs: 1 referenced, 1 copied, 0 already in the backup" in made.stdout
    again = cli(source, "backup", "--to", str(target), env=_env())
    assert "blobs: 1 referenced, 0 copied, 1 already in the backup" in again.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o700

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    other = cli(fresh, "restore", str(target), env=_env(DOKPORTAL_TENANT__SLUG="landkreis-nord"))
    assert other.returncode == 1
    assert "belongs to tenant 'bergstrasse-demo'" in other.stderr
    assert "slug is bound into every encrypted file" in other.stderr
    _nothing_written(fresh)

    wrong = cli(fresh, "restore", str(target), env={"DOKPORTAL_BACKUP_PASSPHRASE": "x" * 20})
    assert wrong.returncode == 1 and "wrong backup passphrase" in wrong.stderr, wrong.stderr
    _nothing_written(fresh)

    unmounted = cli(fresh, "restore", str(target), env=_env())
    assert unmounted.returncode == 1, unmounted.stderr
    assert "blob store is not usable: blob folder var/blobs does not exist" in unmounted.stderr
    _nothing_written(fresh)

    (fresh / "var" / "blobs").mkdir(mode=0o700, parents=True)
    restored = cli(fresh, "restore", str(target), env=_env())
    assert restored.returncode == 0, restored.stderr
    assert "1 files decrypted and matching" in restored.stdout
    assert "recovery time:" in restored.stdout
    keyring = fresh / "var" / "keyring.json"
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert keyring.read_bytes() == (source / "var" / "keyring.json").read_bytes()
    audit = cli(fresh, "audit", "verify")
    assert audit.returncode == 0 and "audit chain intact" in audit.stdout, audit.stderr
    with sqlite3.connect(fresh / "var" / "dokportal.sqlite3") as connection:
        numbers = [row[0] for row in connection.execute("SELECT customer_number FROM customer")]
    assert numbers == ["123D000009"]

    verified = cli(fresh, "backup", "verify", str(target), env=_env())
    assert verified.returncode == 0, verified.stderr
    assert "1 files decrypted and matching their SHA-256" in verified.stdout

    # A blob lost from the backup, and a tampered database file, are found.
    pool = target / "blobs"
    blob = next(p for p in pool.rglob("*") if p.is_file() and ".incoming" not in p.parts)
    blob.unlink()
    missing = cli(fresh, "backup", "verify", str(target), env=_env())
    assert missing.returncode == 1 and "is missing" in missing.stderr, missing.stderr
    latest = sorted((target / "snapshots").iterdir())[-1]
    with (latest / "database.sqlite3").open("ab") as handle:
        handle.write(b"\0")
    tampered = cli(fresh, "backup", "verify", str(target), env=_env())
    assert tampered.returncode == 1 and "does not match its digest" in tampered.stderr
    shutil.rmtree(pool)
    assert os.listdir(target / "snapshots")
