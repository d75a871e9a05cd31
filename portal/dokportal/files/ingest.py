"""The one pipeline every stored file goes through: limits, type, hash, encryption, storage.

A file is fed in chunks as it arrives. Nothing is held in memory beyond two batches of
:data:`BATCH_BYTES`, nothing is written in plaintext, and the database row is written by the
caller only after :meth:`FileIngest.finish` returned, i.e. after the blob is durable.

Why a pipeline: hashing (SHA-256, ~1.7 GB/s with SHA-NI) and encryption cost more CPU than
receiving and parsing the body. Done in line, they kept the event loop busy for the whole
upload on one core. Now each full batch is hashed and encrypted in a worker thread (hashlib
releases the GIL), then written by the store, while the event loop parses the next batches.
Sealing happens one batch after the other (digest and encryptor are sequential), writing
too, and at most :data:`WRITES_IN_FLIGHT` batches wait to be written, so order is kept and
memory stays at a few MiB per upload. Measured in ``bench/`` (issue 6): a 200 MB upload
0.535 s in line, 0.45 s with one batch in flight, ~10 % less again with sealing and writing
as separate steps.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections import deque
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from dokportal.crypto import SegmentEncryptor, blob_aad, new_data_key, wrap_data_key
from dokportal.crypto.keyring import Keyring
from dokportal.files import sniffing
from dokportal.files.checks import TooManyPixels, Unreadable
from dokportal.files.content import Cleaner, cleaner_for
from dokportal.files.names import display_name, with_type_extension
from dokportal.files.pdf_check import inspect_stored_pdf
from dokportal.files.tables import StoredFile
from dokportal.lib.errors import BadRequest, TooLarge, UnsupportedType
from dokportal.storage import BlobStore, BlobWriter, StorageError, new_blob_id

FORMAT_VERSION = 1

BATCH_BYTES = 1024 * 1024
"""Plaintext per worker job: large enough that a thread hop (~50 µs) is noise, small enough
that two in memory per upload do not matter."""

WRITES_IN_FLIGHT = 2
"""Batches queued but not yet written, per upload: memory stays at a few MiB."""

DEFAULT_MAX_PIXELS = 40_000_000
"""The pixel limit when the caller sets none (the setting's default, 40 megapixels)."""

log = logging.getLogger("dokportal.files")
_T = TypeVar("_T")

TYPE_WORDS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}


@dataclass(frozen=True)
class Ingested:
    """What the caller records once the blob is safely stored."""

    blob_id: str
    key_id: str
    wrapped_key: str
    size: int
    sha256: str
    content_type: str
    display_name: str
    # Kinds of active content found in a PDF (JavaScript, Launch, ...); empty when none.
    active_content: tuple[str, ...] = ()

    @property
    def metadata_removed(self) -> bool:
        """Photos are stored without EXIF/XMP/GPS and comments (see files/jpeg_clean.py)."""
        return self.content_type in ("image/jpeg", "image/png")

    def as_row(self) -> StoredFile:
        return StoredFile(
            blob_id=self.blob_id,
            key_id=self.key_id,
            wrapped_key=self.wrapped_key,
            format_version=FORMAT_VERSION,
            size=self.size,
            sha256=self.sha256,
            content_type=self.content_type,
            display_name=self.display_name,
            active_content=",".join(self.active_content),
            safe_copy_state="pending" if self.active_content else "",
        )


def accepted_words(allowed: frozenset[str]) -> str:
    return ", ".join(sorted(TYPE_WORDS.get(kind, kind) for kind in allowed))


class FileIngest:
    """One file on its way into the blob store."""

    def __init__(
        self,
        *,
        store: BlobStore,
        keyring: Keyring,
        tenant: str,
        filename: str,
        max_bytes: int,
        max_words: str,
        allowed: frozenset[str],
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._tenant = tenant
        self._raw_name = filename
        self.display_name = display_name(filename)
        self._max_bytes = max_bytes
        self._max_words = max_words
        self._allowed = allowed
        self._max_pixels = max_pixels
        self._cleaner: Cleaner | None = None
        self._stored = 0  # bytes after cleaning: what is hashed, encrypted and stored
        self._head = b""
        self._content_type: str | None = None
        self._size = 0
        self._digest = hashlib.sha256()
        self._writer: BlobWriter | None = None
        self._encryptor: SegmentEncryptor | None = None
        self._blob_id = new_blob_id()
        self._wrapped: tuple[str, str] | None = None
        self._keys: tuple[bytes, bytes] | None = None  # data key and AAD, for the PDF check
        self._batch = bytearray()
        self._sealing: asyncio.Task[bytes] | None = None
        self._writes: deque[asyncio.Task[None]] = deque()

    async def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise TooLarge(
                "The file %(name)s is too large. Each file may have at most %(limit)s.",
                name=self.display_name,
                limit=self._max_words,
            )
        if self._content_type is None:
            self._head += chunk
            if len(self._head) < sniffing.SNIFF_BYTES:
                return
            await self._start()
            chunk, self._head = self._head, b""
        self._batch += chunk
        if len(self._batch) >= BATCH_BYTES:
            await self._submit()

    async def _start(self) -> None:
        kind = sniffing.sniff(self._head)
        if kind is None or kind not in self._allowed:
            raise UnsupportedType(
                "The file %(name)s is not a supported document. Accepted are: %(types)s.",
                name=self.display_name,
                types=accepted_words(self._allowed),
            )
        if sniffing.extension_contradicts(self._raw_name, kind):
            raise UnsupportedType(
                "The file %(name)s is not what its name says. Accepted are: %(types)s.",
                name=self.display_name,
                types=accepted_words(self._allowed),
            )
        self._content_type = kind
        self.display_name = with_type_extension(self.display_name, kind)
        self._cleaner = cleaner_for(kind, max_pixels=self._max_pixels)
        data_key = new_data_key()
        aad = blob_aad(self._tenant, self._blob_id)
        self._keys = (data_key, aad)
        wrapped = wrap_data_key(self._keyring, data_key, aad=aad)
        self._wrapped = (wrapped.key_id, base64.b64encode(wrapped.wrapped).decode())
        self._encryptor = SegmentEncryptor(data_key, aad)
        self._writer = await self._store.open_writer(self._blob_id)
        await self._writer.write(self._encryptor.header())

    async def _submit(self) -> None:
        """Queue the batch: sealed after the previous batch's sealing, written after its write.

        Sealing (a worker thread) and writing (the store's own thread) are separate steps,
        so batch n+1 is hashed while batch n is written and the loop parses batch n+2. The
        loop waits only while :data:`WRITES_IN_FLIGHT` batches are not yet written.
        """
        batch, self._batch = self._batch, bytearray()
        while len(self._writes) >= WRITES_IN_FLIGHT:
            await self._writes.popleft()  # a failure (e.g. storage down) surfaces here
        seal = asyncio.ensure_future(self._seal(batch, self._sealing))
        self._sealing = seal
        earlier = self._writes[-1] if self._writes else None
        self._writes.append(asyncio.ensure_future(self._write(seal, earlier)))

    async def _drain(self) -> None:
        """Wait until every queued batch is written; the first failure surfaces here."""
        while self._writes:
            await self._writes.popleft()

    async def _seal(self, batch: bytearray, earlier: asyncio.Task[bytes] | None) -> bytes:
        if earlier is not None:
            await earlier  # digest and encryptor take the batches one by one, in order
        return await anyio.to_thread.run_sync(self._hash_and_seal, batch)

    async def _write(self, seal: asyncio.Task[bytes], earlier: asyncio.Task[None] | None) -> None:
        assert self._writer is not None
        sealed = await seal
        if earlier is not None:
            await earlier  # in order, and never after a failed write
        if sealed:
            await self._writer.write(sealed)

    def _hash_and_seal(self, batch: bytearray) -> bytes:
        """Worker thread: one sealing at a time (each waits for the one before).

        The content check sees the plaintext first: it refuses a damaged file as soon as
        that shows, and what it returns (metadata removed) is what is hashed and stored.
        """
        assert self._encryptor is not None and self._cleaner is not None
        cleaned = self._checked(self._cleaner.feed, batch)
        self._stored += len(cleaned)
        self._digest.update(cleaned)
        return self._encryptor.update(cleaned)

    def _close_and_seal(self) -> bytes:
        """Worker thread, after the last batch: the check's verdict on the whole file."""
        assert self._encryptor is not None and self._cleaner is not None
        tail = self._checked(self._cleaner.close)
        self._stored += len(tail)
        self._digest.update(tail)
        return self._encryptor.update(tail) + self._encryptor.finalize()

    def _checked(self, step: Any, *args: Any) -> Any:
        """Run one step of the content check; its findings become the user's message."""
        with self._translated():
            return step(*args)

    async def _checked_async(self, check: Awaitable[_T]) -> _T:
        with self._translated():
            return await check

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except TooManyPixels as error:
            raise TooLarge(
                "The photo %(name)s has too many pixels. Please take it again with a lower "
                "resolution.",
                name=self.display_name,
            ) from error
        except Unreadable as error:
            raise UnsupportedType(
                "The file %(name)s is damaged or incomplete and cannot be opened. Please "
                "save or export it again and send it once more.",
                name=self.display_name,
            ) from error

    async def finish(self) -> Ingested:
        """Seal the last segment, make the blob durable and check a PDF in it.

        A PDF refused by the check is deleted again before this raises: the caller writes
        rows only after ``finish`` returned, so a refused file leaves nothing behind.
        """
        if self._size == 0:
            raise BadRequest("The file %(name)s is empty.", name=self.display_name)
        if self._content_type is None:
            await self._start()
            self._batch += self._head
            self._head = b""
        if self._batch:
            await self._submit()
        await self._drain()
        assert self._cleaner is not None and self._writer is not None
        assert self._content_type is not None and self._wrapped is not None
        await self._writer.write(await anyio.to_thread.run_sync(self._close_and_seal))
        await self._writer.commit()
        active = self._cleaner.active
        if self._content_type == "application/pdf":
            active = await self._check_stored_pdf()
        return Ingested(
            blob_id=self._blob_id,
            key_id=self._wrapped[0],
            wrapped_key=self._wrapped[1],
            size=self._stored,
            sha256=self._digest.hexdigest(),
            content_type=self._content_type,
            display_name=self.display_name,
            active_content=active,
        )

    async def _check_stored_pdf(self) -> tuple[str, ...]:
        """Open the committed PDF with qpdf, reading it back from the store (pdf_check.py).

        After the commit, not before: qpdf seeks, and only the stored blob can be read at
        any offset without holding the file in memory. Any failure here, a cancelled upload
        included, deletes the blob; should the delete fail too, the orphan sweeper removes
        it (no row refers to it).
        """
        assert self._keys is not None
        (data_key, aad), self._keys = self._keys, None
        try:
            return await self._checked_async(
                inspect_stored_pdf(
                    self._store, self._blob_id, data_key=data_key, aad=aad, size=self._stored
                )
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                try:
                    await self._store.delete(self._blob_id)
                except StorageError as error:
                    log.warning("refused PDF not deleted, left to the sweeper: %s", error)
            raise

    async def abort(self) -> None:
        """Remove whatever was written; safe to call at any point, more than once.

        The queued batches are waited for first (they end within a few batches' time),
        so nothing writes after the writer was aborted; their errors no longer matter.
        """
        jobs: list[asyncio.Task[Any]] = [*self._writes]
        if self._sealing is not None:
            jobs.append(self._sealing)
        self._writes.clear()
        self._sealing = None
        if jobs:
            with anyio.CancelScope(shield=True):
                await asyncio.wait(jobs)
            for job in jobs:
                if not job.cancelled():
                    job.exception()  # retrieved: asyncio must not report it as lost
        if self._writer is not None:
            await self._writer.abort()
