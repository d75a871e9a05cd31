"""Uploads to S3: full parts go up in the background while the next part fills.

A blob smaller than one part (most documents) goes up with a single ``PutObject`` at
`commit`. A larger one becomes a multipart upload, created once the first part is full.
Each full part is handed to a background task (boto3 in a worker thread) and `write`
returns at once, so the ingest pipeline goes on encrypting while S3 receives. `write`
waits only when `parts_in_flight` parts of this upload are on their way, or when the
store's `total_parts_in_flight` are, counting all uploads.

Why: awaiting each part left the S3 server idle while the next part filled, and the
portal idle while the server stored a part. Against SeaweedFS on loopback (two shared
cores), a 200 MB upload through the portal went from ~80 to 100-125 MB/s with two parts
in flight. A third or fourth added nothing measurable, nor did part sizes between 5 and
16 MiB: SeaweedFS's own CPU (~1.9 s per 200 MB, whatever the client does) is the limit.

Memory: at most ``(parts_in_flight + 1) * part_size`` per upload (the parts in flight
and the one filling); parts are sent from the buffer they were filled in, not copied.
Counting all uploads, at most ``(uploads + total_parts_in_flight) * part_size``: with
the defaults, sixteen concurrent uploads hold 100 MiB, less than one 8 MiB part each
that the sequential writer held (and copied).

Failures: a failed part poisons the writer; its error surfaces at the next `write` or at
`commit`. `abort` first waits for every part in flight, so nothing is sent after the
multipart upload is aborted, and then aborts it. Calls are sequential: one `write` or
`commit` at a time, then `abort` unless `commit` succeeded, as `FileIngest` and
`write_blob` do.
"""

from __future__ import annotations

import asyncio
import io
import logging
from functools import partial
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any, cast

import anyio

from dokportal.storage.base import WriterState
from dokportal.storage.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from dokportal.storage.s3 import S3BlobStore

log = logging.getLogger(__name__)


class S3BlobWriter(WriterState):
    """One upload: buffers a part, sends full parts in the background, commits in order."""

    def __init__(self, store: S3BlobStore, client: S3Client, key: str) -> None:
        """Prepare an upload to `key`; nothing happens on the network yet."""
        self._store = store
        self._client = client
        self._key = key
        # The part being filled: grown for the first part (most blobs are small), later
        # ones allocated whole. Equal sizes coming and going fragment the heap less:
        # ~10% less peak RSS under sixteen concurrent uploads than growing each part.
        self._buffer = bytearray()
        self._filled = 0
        self._upload_id: str | None = None
        self._next_part = 1
        self._parts: list[CompletedPartTypeDef] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._commit_started = False

    async def write(self, data: bytes) -> None:
        """Buffer `data`; send each part as it fills, waiting only for room to send it."""
        self._require_open()
        await self._guard(self._write(data))

    async def commit(self) -> None:
        """Put the object (small blobs), or send the last part, wait for all, complete."""
        self._require_open()
        self._commit_started = True
        await self._guard(self._commit())
        self._state = "committed"

    async def abort(self) -> None:
        """Wait for the parts in flight, abort the upload, remove a half-committed object."""
        if not self._begin_abort():
            return
        self._buffer, self._filled = bytearray(), 0
        store, key = self._store, self._key
        with anyio.CancelScope(shield=True):  # cleanup must survive a cancelled upload
            await self._settle()
            try:
                if self._upload_id is not None:
                    await store._abort_upload(key, self._upload_id)
                if self._commit_started:
                    # The commit may have landed although we saw an error: undo it.
                    delete = partial(self._client.delete_object, Bucket=store.bucket, Key=key)
                    await store._call("delete", delete)
            except StorageError as exc:  # best effort: the orphan sweeper gets the rest
                log.warning("could not clean up upload of %s: %s", key, exc)

    async def _write(self, data: bytes) -> None:
        self._collect()  # a part that failed since the last call surfaces here
        size = self._store.part_size
        view = memoryview(data)
        while view:
            if not self._buffer and self._upload_id is not None:
                self._buffer = bytearray(size)
            piece, view = view[: size - self._filled], view[size - self._filled :]
            self._buffer[self._filled : self._filled + len(piece)] = piece
            self._filled += len(piece)
            if self._filled == size:
                await self._send_part()

    async def _commit(self) -> None:
        self._collect()
        store = self._store
        if self._upload_id is None:
            # Small: a copy costs little, and a file body would make botocore wait for a
            # "100 Continue" first, one more round trip for most documents.
            body, self._buffer, self._filled = bytes(self._buffer), bytearray(), 0
            put = partial(self._client.put_object, Bucket=store.bucket, Key=self._key, Body=body)
            await store._call("store a blob", put)
            return
        if self._filled:
            await self._send_part()
        while self._in_flight:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_EXCEPTION)
            self._collect()
        complete = partial(
            self._client.complete_multipart_upload,
            Bucket=store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            # Parts finish in any order; S3 wants them ascending.
            MultipartUpload={"Parts": sorted(self._parts, key=itemgetter("PartNumber"))},
        )
        await store._call("complete an upload", complete)

    async def _send_part(self) -> None:
        """Start uploading the buffered part once this upload and the store have room."""
        store = self._store
        while len(self._in_flight) >= store.parts_in_flight:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            self._collect()
        if self._upload_id is None:
            create = partial(
                self._client.create_multipart_upload, Bucket=store.bucket, Key=self._key
            )
            self._upload_id = (await store._call("start an upload", create))["UploadId"]
        await store.part_slots.acquire()
        # No await from here on: the slot is released by the task, however it ends.
        body = _PartBody(memoryview(self._buffer)[: self._filled])
        self._buffer, self._filled = bytearray(), 0
        number, self._next_part = self._next_part, self._next_part + 1
        task = asyncio.ensure_future(self._upload_part(self._upload_id, number, body))
        task.add_done_callback(lambda _: store.part_slots.release())
        self._in_flight.add(task)

    async def _upload_part(self, upload_id: str, number: int, body: _PartBody) -> None:
        """Background task: one part, recorded for `commit` once S3 has it."""
        upload = partial(
            self._client.upload_part,
            Bucket=self._store.bucket,
            Key=self._key,
            UploadId=upload_id,
            PartNumber=number,
            Body=cast("IO[bytes]", body),
        )
        answer = await self._store._call("upload a part", upload)
        part: CompletedPartTypeDef = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumCRC32" in answer:
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]
        self._parts.append(part)

    def _collect(self) -> None:
        """Forget parts that are done; raise the first failure among them."""
        done = {task for task in self._in_flight if task.done()}
        self._in_flight -= done
        failures = [failure for task in done if (failure := _failure(task))]
        if failures:
            raise failures[0]

    async def _settle(self) -> None:
        """Wait for every part in flight, whatever its outcome (errors no longer matter)."""
        in_flight, self._in_flight = self._in_flight, set()
        if in_flight:
            await asyncio.wait(in_flight)
        for task in in_flight:
            _failure(task)  # retrieved: asyncio must not report it as lost

    async def _guard(self, step: Any) -> None:
        """Await one step; any failure poisons the writer until `abort`."""
        with self._poisoned_by_failure():
            await step


class _PartBody(io.RawIOBase):
    """A part as a seekable file over the writer's buffer, which botocore reads in chunks
    (to sign, checksum and send it) without copying the whole part: a `bytes` body it
    would copy into the request over http, a `bytearray` into a `BytesIO` over https."""

    def __init__(self, data: memoryview) -> None:
        super().__init__()
        self._data = data
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._position + size
        chunk = self._data[self._position : end].tobytes()
        self._position += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        chunk = self._data[self._position : self._position + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._data)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def _failure(task: asyncio.Task[None]) -> BaseException | None:
    if task.cancelled():
        return StorageError("a part upload was cancelled")
    return task.exception()
