"""Checks that a (restored) tenant is whole: blobs present, files decrypt, chain intact.

Run against a database that Piccolo is configured for and a blob store: after
``dokportal restore`` on the restored instance itself, and by ``dokportal backup verify``
on a scratch copy of the backup's database with the backup's blob folder.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from dokportal.audit.services import verify_chain
from dokportal.crypto import Keyring, ciphertext_size
from dokportal.files.reading import open_decrypted
from dokportal.files.tables import StoredFile
from dokportal.storage import BlobStore
from dokportal.wrapped_secrets import missing_key_ids


@dataclass
class VerifyReport:
    referenced: int = 0
    decrypted: int = 0
    audit_events: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_instance(
    store: BlobStore, keyring: Keyring, tenant: str, *, sample: int
) -> VerifyReport:
    """Every referenced blob present with the right size; ``sample`` files (0 = all)
    decrypted and their SHA-256 compared with the row; the audit chain recomputed."""
    report = VerifyReport()
    missing_keys = await missing_key_ids(keyring)
    if missing_keys:
        report.problems.append(f"keys not in the keyring: {', '.join(sorted(missing_keys))}")
    present = {info.blob_id: info.size async for info in store.list_blobs() if not info.partial}
    rows = await StoredFile.objects().order_by(StoredFile.id)
    report.referenced = len(rows)
    for row in rows:
        size = present.get(row.blob_id)
        if size is None:
            report.problems.append(f"blob of stored file {row.id} is missing")
        elif size != ciphertext_size(row.size):
            report.problems.append(f"blob of stored file {row.id} has the wrong size")
    chosen = rows if sample <= 0 or sample >= len(rows) else random.sample(rows, sample)
    for row in chosen:
        if row.blob_id not in present:
            continue
        digest = hashlib.sha256()
        length = 0
        try:
            async for chunk in await open_decrypted(store, keyring, tenant, row):
                digest.update(chunk)
                length += len(chunk)
        except Exception as error:  # noqa: BLE001 - every failure is a finding, not a crash
            report.problems.append(f"stored file {row.id} does not decrypt: {error}")
            continue
        if digest.hexdigest() != row.sha256 or length != row.size:
            report.problems.append(f"stored file {row.id}: SHA-256 does not match its row")
        else:
            report.decrypted += 1
    chain = await verify_chain()
    report.audit_events = chain.checked
    if not chain.ok:
        report.problems.append(f"audit chain broken at event {chain.broken_seq}: {chain.reason}")
    return report
