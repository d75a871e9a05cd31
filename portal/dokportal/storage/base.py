"""The blob store contract shared by the folder and the S3 backends.

Blobs are opaque, already-encrypted byte streams named by random ids. The contract is
built around the upload path's promise: nothing is visible until `commit` returns, and
once it returns the blob is durable; a crash in between leaves at most a *partial*
upload that `list_blobs` reports, so the orphan sweeper can remove it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import anyio

from dokportal.storage.errors import InvalidBlobId, StorageError

_BLOB_ID = re.compile(r"[a-z0-9-]{8,64}")


def new_blob_id() -> str:
    """Return a random blob id: 128 bits as 32 hex characters, unguessable."""
    return secrets.token_hex(16)


def validate_blob_id(blob_id: str) -> str:
    """Return `blob_id` if it is well-formed, else raise `InvalidBlobId`.

    The pattern has no dot or slash, so an id can never walk out of the store's
    folder or prefix (path traversal), whatever a caller passes in.
    """
    if not isinstance(blob_id, str) or not _BLOB_ID.fullmatch(blob_id):
        raise InvalidBlobId(f"invalid blob id {blob_id!r}")
    return blob_id


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """One entry of `BlobStore.list_blobs`.

    `partial` marks an upload that was started but never committed (a crash, a killed
    pod); its `size` is what has been written so far, or 0 where the backend cannot
    tell cheaply (S3). `modified` is timezone-aware UTC.
    """

    blob_id: str
    size: int
    modified: datetime
    partial: bool = False


class BlobWriter(Protocol):
    """An upload in progress; exactly one of `commit` or `abort` ends it."""

    async def write(self, data: bytes) -> None:
        """Append `data`; may buffer, so errors can surface in a later call."""
        ...

    async def commit(self) -> None:
        """Make the blob visible; it is durable when this returns."""
        ...

    async def abort(self) -> None:
        """Remove everything partial; safe to call twice, and after a failure."""
        ...


class WriterState:
    """The life of one upload, shared by the writers: ``open`` until `commit` or `abort`.

    A failure while open leaves the writer ``failed``: its buffers or parts may be half
    sent, so nothing more may be written; only `abort` is left.
    """

    _state = "open"  # open -> committed | aborted | failed

    def _require_open(self) -> None:
        if self._state != "open":
            raise StorageError(f"writer is {self._state}")

    @contextmanager
    def _poisoned_by_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self._state = "failed"
            raise

    def _begin_abort(self) -> bool:
        """Mark the writer aborted; False if there is nothing to do (committed, aborted)."""
        if self._state in ("committed", "aborted"):
            return False
        self._state = "aborted"
        return True


class BlobStore(Protocol):
    """Where encrypted blobs live; one instance per tenant process, safe to share."""

    async def open_writer(self, blob_id: str) -> BlobWriter:
        """Start writing a new blob.

        Use a fresh id from `new_blob_id`: committing an id that exists replaces it.
        """
        ...

    def read(self, blob_id: str) -> AsyncIterator[bytes]:
        """Stream a committed blob in chunks; `BlobNotFound` on the first iteration."""
        ...

    async def read_range(self, blob_id: str, start: int, length: int) -> bytes:
        """Return up to `length` bytes of a committed blob from offset `start`.

        Fewer only where the blob ends (none at or past its end); `BlobNotFound` if it is
        not there. For random access without reading the whole blob (the PDF check).
        """
        ...

    async def delete(self, blob_id: str) -> None:
        """Remove the blob and any partial upload of it; no error if nothing is there."""
        ...

    async def exists(self, blob_id: str) -> bool:
        """Tell whether a committed blob has this id."""
        ...

    def list_blobs(self) -> AsyncIterator[BlobInfo]:
        """List committed blobs and partial uploads (order unspecified)."""
        ...

    async def check(self) -> None:
        """Readiness: return if usable, else raise `StorageUnavailable` saying why."""
        ...


async def write_blob(store: BlobStore, blob_id: str, chunks: AsyncIterable[bytes]) -> int:
    """Store a stream as one blob; on any failure abort, so nothing half is left.

    Returns the number of bytes stored. The abort also runs on cancellation (a client
    that disconnects mid-upload), which is why it sits in a ``finally``.
    """
    writer = await store.open_writer(blob_id)
    size = 0
    committed = False
    try:
        async for chunk in chunks:
            await writer.write(chunk)
            size += len(chunk)
        await writer.commit()
        committed = True
    finally:
        if not committed:
            with anyio.CancelScope(shield=True):
                await writer.abort()
    return size
