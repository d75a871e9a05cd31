"""Uploads to S3: 8 MiB parts into a multipart upload, created only once the first full
part exists; most documents are smaller and go up with a single ``PutObject`` at commit.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from dokportal.storage.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from dokportal.storage.s3 import S3BlobStore

log = logging.getLogger(__name__)


class S3BlobWriter:
    """Buffers parts; a multipart upload is created with the first full part."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        """Prepare an upload to `key`; nothing happens on the network yet."""
        self._store = store
        self._client = store._client
        self._key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._commit_started = False
        self._state = "open"  # open -> committed | aborted | failed

    async def write(self, data: bytes) -> None:
        """Buffer `data`; upload every full part (8 MiB) as it fills."""
        self._require_open()
        view = memoryview(data)
        size = self._store.part_size
        while view:
            room = size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == size:
                await self._guard(self._upload_part())

    async def commit(self) -> None:
        """Put the object (small blobs) or complete the multipart upload."""
        self._require_open()
        self._commit_started = True
        await self._guard(self._commit())
        self._state = "committed"

    async def abort(self) -> None:
        """Abort the multipart upload and remove a possibly half-committed object."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        self._buffer = bytearray()
        store, key = self._store, self._key
        with anyio.CancelScope(shield=True):  # cleanup must survive a cancelled upload
            try:
                if self._upload_id is not None:
                    await store._abort_upload(key, self._upload_id)
                if self._commit_started:
                    # The commit may have landed although we saw an error: undo it.
                    delete = partial(self._client.delete_object, Bucket=store.bucket, Key=key)
                    await store._call("delete", delete)
            except StorageError as exc:  # best effort: the orphan sweeper gets the rest
                log.warning("could not clean up upload of %s: %s", key, exc)

    async def _upload_part(self) -> None:
        store = self._store
        body, self._buffer = bytes(self._buffer), bytearray()
        if self._upload_id is None:
            create = partial(
                self._client.create_multipart_upload, Bucket=store.bucket, Key=self._key
            )
            response = await store._call("start an upload", create)
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        upload = partial(
            self._client.upload_part,
            Bucket=store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        answer = await store._call("upload a part", upload)
        part: CompletedPartTypeDef = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumCRC32" in answer:
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]
        self._parts.append(part)

    async def _commit(self) -> None:
        store = self._store
        if self._upload_id is None:
            put = partial(
                self._client.put_object,
                Bucket=store.bucket,
                Key=self._key,
                Body=bytes(self._buffer),
            )
            await store._call("store a blob", put)
            return
        if self._buffer:
            await self._upload_part()
        complete = partial(
            self._client.complete_multipart_upload,
            Bucket=store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        await store._call("complete an upload", complete)

    async def _guard(self, step: Any) -> None:
        """Await one step; any failure poisons the writer until `abort`."""
        try:
            await step
        except BaseException:
            self._state = "failed"
            raise

    def _require_open(self) -> None:
        if self._state != "open":
            raise StorageError(f"writer is {self._state}")
