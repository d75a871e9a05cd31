"""``dokportal backup``, ``restore`` and ``backup verify`` without the command-line part.

Order matters for both directions. A backup dumps the database first and then copies every
blob the dump refers to, so no row in a backup points at a blob the backup lacks (a blob
written meanwhile is simply not referenced yet). A restore checks everything it can before
it writes anything: the manifest, the tenant slug, the passphrase (by unsealing the
keyring), the emptiness of the target; then database, blobs, keyring, and finally the same
checks ``backup verify`` runs, on the restored instance.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dokportal import db
from dokportal.backup import database
from dokportal.backup.errors import BackupError
from dokportal.backup.sealing import check_passphrase, seal, unseal
from dokportal.backup.verify import VerifyReport, verify_instance
from dokportal.crypto import Keyring, KeyringError
from dokportal.settings import Settings
from dokportal.storage import BlobStore, FolderBlobStore
from dokportal.storage.base import write_blob
from dokportal.storage.errors import BlobNotFound, StorageError
from dokportal.storage.factory import build_store

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SEALED_KEYRING = "keyring.sealed"


@dataclass(frozen=True)
class BackupReport:
    snapshot: str
    folder: Path
    blobs_referenced: int
    blobs_copied: int
    counts: dict[str, int]


@dataclass(frozen=True)
class RestoreReport:
    snapshot: str
    blobs: int
    seconds: float
    verify: VerifyReport


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


async def _blob_pool(target: Path) -> FolderBlobStore:
    store = FolderBlobStore(target / "blobs")
    await store.ensure_root()
    return store


async def make_backup(settings: Settings, target: Path, passphrase: str) -> BackupReport:
    """Write one snapshot into ``target`` (made if missing); copy only blobs it lacks."""
    check_passphrase(passphrase)
    tenant = settings.tenant.slug
    now = datetime.now(UTC)
    # Sorts by time (to the microsecond): the latest snapshot is the last name.
    snapshot = f"{now:%Y%m%d-%H%M%S-%f}-{secrets.token_hex(2)}"
    _private_dir(target / "snapshots")
    partial = Path(tempfile.mkdtemp(prefix=f".{snapshot}.", dir=target / "snapshots"))
    try:
        dumped = await database.dump(settings.database_url.get_secret_value(), partial)
        # Read after the dump and checked against it: a key rotation running meanwhile
        # (new primary, or old keys retired) must not leave rows whose key is not saved.
        try:
            keyring = Keyring.load(settings.keyring_path)
        except KeyringError as error:
            raise BackupError(str(error)) from None
        lacking = sorted(dumped.key_ids - set(keyring.ids))
        if lacking:
            raise BackupError(
                f"the keyring lacks key(s) {', '.join(lacking)} that the database uses "
                "(a key rotation in progress?); run the backup again"
            )
        source = build_store(settings.storage)
        pool = await _blob_pool(target)
        copied = 0
        for blob_id in sorted(dumped.blob_ids):
            if await pool.exists(blob_id):
                continue  # blob ids are never reused: what is there is this blob
            try:
                await write_blob(pool, blob_id, source.read(blob_id))
            except BlobNotFound:
                raise BackupError(
                    f"blob {blob_id} vanished while the backup ran (deleted by retention?); "
                    "run the backup again"
                ) from None
            copied += 1
        (partial / SEALED_KEYRING).write_bytes(
            seal(keyring, passphrase, tenant=tenant, snapshot=snapshot)
        )
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "snapshot": snapshot,
            "tenant": tenant,
            "created_at": now.isoformat(),
            "database": {
                "kind": dumped.kind,
                "file": dumped.file,
                "sha256": _sha256(partial / dumped.file),
            },
            "keyring": {
                "file": SEALED_KEYRING,
                "sha256": _sha256(partial / SEALED_KEYRING),
                "key_ids": list(keyring.ids),
                "primary": keyring.primary_id,
            },
            "blobs": {"referenced": len(dumped.blob_ids), "copied": copied},
            "counts": dumped.counts,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        # Only a complete snapshot gets its name: a crash leaves a ".…" folder restore ignores.
        os.replace(partial, target / "snapshots" / snapshot)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupReport(
        snapshot, target / "snapshots" / snapshot, len(dumped.blob_ids), copied, dumped.counts
    )


# -- reading a backup --


def list_snapshots(target: Path) -> list[str]:
    folder = target / "snapshots"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir())


def _open_snapshot(target: Path, snapshot: str | None) -> tuple[Path, dict[str, Any]]:
    """The snapshot's folder and checked manifest (the latest if none is named)."""
    names = list_snapshots(target)
    if not names:
        raise BackupError(f"no backup snapshots in {target}")
    name = snapshot or names[-1]
    if name not in names:
        raise BackupError(f"no snapshot {name!r} in {target} (there are: {', '.join(names)})")
    folder = target / "snapshots" / name
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"snapshot {name}: manifest unreadable ({error})") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"snapshot {name}: unknown format {manifest.get('format_version')!r}")
    # Only our own file names: a manifest must not steer reads outside its folder.
    expected = {"sqlite": database.SQLITE_FILE, "postgresql": database.PG_FILE}
    try:
        names_ok = (
            manifest["database"]["file"] == expected[manifest["database"]["kind"]]
            and manifest["keyring"]["file"] == SEALED_KEYRING
        )
    except (KeyError, TypeError):
        names_ok = False
    if not names_ok:
        raise BackupError(f"snapshot {name}: the manifest is damaged")
    for part in ("database", "keyring"):
        if _sha256(folder / manifest[part]["file"]) != manifest[part]["sha256"]:
            raise BackupError(f"snapshot {name}: the {part} file does not match its digest")
    return folder, manifest


def _unseal(folder: Path, manifest: dict[str, Any], passphrase: str) -> Keyring:
    return unseal(
        (folder / SEALED_KEYRING).read_bytes(),
        passphrase,
        tenant=str(manifest["tenant"]),
        snapshot=str(manifest["snapshot"]),
    )


async def _copy_referenced(pool: BlobStore, store: BlobStore) -> int:
    from dokportal.files.tables import StoredFile

    blob_ids = await StoredFile.select(StoredFile.blob_id).output(as_list=True)
    for blob_id in blob_ids:
        try:
            await write_blob(store, str(blob_id), pool.read(str(blob_id)))
        except BlobNotFound:
            raise BackupError(
                f"the backup lacks blob {blob_id} that its database refers to"
            ) from None
    return len(blob_ids)


async def restore_backup(
    settings: Settings, target: Path, passphrase: str, *, snapshot: str | None = None
) -> RestoreReport:
    """Restore into a fresh instance (empty database and store, no keyring file)."""
    started = time.monotonic()
    folder, manifest = _open_snapshot(target, snapshot)
    if manifest["tenant"] != settings.tenant.slug:
        raise BackupError(
            f"this backup belongs to tenant {manifest['tenant']!r}, but this instance is "
            f"configured as {settings.tenant.slug!r}. The slug is bound into every encrypted "
            "file and secret, so the data cannot be read under another slug: set "
            f"DOKPORTAL_TENANT__SLUG={manifest['tenant']} (or the Portal's tenant) to restore."
        )
    keyring = _unseal(folder, manifest, passphrase)  # wrong passphrase: nothing written yet
    if settings.keyring_path.exists():
        raise BackupError(
            f"a keyring already exists at {settings.keyring_path}; restore only into a fresh "
            "instance (move that file away if it belongs to nothing)"
        )
    url = settings.database_url.get_secret_value()
    tables = [table._meta.tablename for table in db.all_tables()]
    if await database.rows_in_target(url, tables):
        raise BackupError("the target database is not empty; restore only into a fresh instance")
    store = build_store(settings.storage)
    try:
        await store.check()
    except StorageError as error:
        raise BackupError(f"the target blob store is not usable: {error}") from None
    async for _ in store.list_blobs():
        raise BackupError("the target blob store is not empty; restore only into a fresh instance")
    database.load(url, folder, str(manifest["database"]["kind"]))
    db.configure(settings)
    await db.migrate()  # a backup of an older version comes up to this version's schema
    blobs = await _copy_referenced(await _blob_pool(target), store)
    settings.keyring_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    keyring.save(settings.keyring_path)  # 0600 from the start (mkstemp), atomic
    report = await verify_instance(store, keyring, settings.tenant.slug, sample=0)
    return RestoreReport(str(manifest["snapshot"]), blobs, time.monotonic() - started, report)


async def verify_backup(
    target: Path,
    passphrase: str,
    *,
    snapshot: str | None = None,
    sample: int = 20,
    scratch_database_url: str | None = None,
) -> tuple[dict[str, Any], VerifyReport]:
    """Load the snapshot's database into a scratch database and check it against the
    backup's own blobs and keyring. SQLite: a temporary file; PostgreSQL needs an empty
    scratch database (``scratch_database_url``), since a dump is only readable restored."""
    folder, manifest = _open_snapshot(target, snapshot)
    keyring = _unseal(folder, manifest, passphrase)
    kind = str(manifest["database"]["kind"])
    with tempfile.TemporaryDirectory(prefix="dokportal-verify-") as scratch:
        if kind == "sqlite":
            url = f"sqlite:///{Path(scratch) / 'verify.sqlite3'}"
        elif scratch_database_url:
            url = scratch_database_url
            tables = [table._meta.tablename for table in db.all_tables()]
            if await database.rows_in_target(url, tables):
                raise BackupError("the scratch database is not empty")
        else:
            raise BackupError(
                "a PostgreSQL backup is verified in an empty scratch database: "
                "give --scratch-database-url"
            )
        database.load(url, folder, kind)
        db.configure(Settings(database_url=url))
        report = await verify_instance(
            await _blob_pool(target), keyring, str(manifest["tenant"]), sample=sample
        )
    if report.referenced != manifest["blobs"]["referenced"]:
        report.problems.append("the database refers to a different number of blobs than listed")
    return manifest, report
