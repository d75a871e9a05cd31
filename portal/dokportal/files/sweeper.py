"""Removing orphan blobs: what a crash between 'blob stored' and 'row written' leaves.

A grace period protects uploads that are still in flight on another replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dokportal.files.tables import StoredFile
from dokportal.storage import BlobStore


@dataclass(frozen=True)
class SweepReport:
    examined: int
    removed: int


async def sweep(store: BlobStore, grace: timedelta, *, dry_run: bool = False) -> SweepReport:
    cutoff = datetime.now(UTC) - grace
    examined = removed = 0
    async for blob in store.list_blobs():
        examined += 1
        if blob.modified > cutoff:
            continue
        if not blob.partial:
            known = await StoredFile.exists().where(StoredFile.blob_id == blob.blob_id)
            if known:
                continue
        if not dry_run:
            await store.delete(blob.blob_id)
        removed += 1
    return SweepReport(examined=examined, removed=removed)
