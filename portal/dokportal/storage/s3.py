"""Blobs as objects in an S3 bucket (SeaweedFS, MinIO, Ceph, AWS).

boto3 is synchronous, so every call runs in a worker thread. Uploads are in
`dokportal.storage.s3_writer`: one ``PutObject`` for small blobs, a multipart upload
with a few parts in flight for large ones. Either way the object only appears when the
writer's `commit` succeeds, and an unfinished multipart upload is what `list_blobs`
reports as partial, so the sweeper can abort it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ReadTimeoutError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from dokportal.storage.base import BlobInfo, validate_blob_id
from dokportal.storage.errors import BlobNotFound, StorageError, StorageUnavailable
from dokportal.storage.s3_writer import S3BlobWriter

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CreateBucketConfigurationTypeDef

_T = TypeVar("_T")
_MIB = 1024 * 1024
_PREFIX = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*")
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
_MISSING_CODES = frozenset({"NoSuchKey", "NotFound", "404"})


class S3BlobStore:
    """A `BlobStore` on one S3 bucket, optionally under a key prefix."""

    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        path_style: bool = True,
        prefix: str = "",
        *,
        part_size: int = 5 * _MIB,
        parts_in_flight: int = 2,
        total_parts_in_flight: int = 4,
        read_chunk_size: int = _MIB,
        connect_timeout: float = 3,
        read_timeout: float = 60,
        max_attempts: int = 3,
        ca_bundle: str | None = None,
    ) -> None:
        """Build the client; no network traffic until the first call.

        `ca_bundle` is a PEM file to trust instead of the public CAs, for an in-house
        CA in front of the object store. An upload sends up to `parts_in_flight` parts
        at once, all uploads of this store together up to `total_parts_in_flight`; see
        `dokportal.storage.s3_writer` for what that costs in memory and why.
        """
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"S3 prefix {prefix!r} must be empty or end with '/'")
        if part_size < 5 * _MIB:
            raise ValueError("S3 parts must be at least 5 MiB")
        if not 1 <= parts_in_flight <= total_parts_in_flight:
            raise ValueError("need 1 <= parts_in_flight <= total_parts_in_flight")
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.part_size = part_size
        self.parts_in_flight = parts_in_flight
        # Shared by all writers: bounds memory and threads however many uploads run.
        self.part_slots = anyio.Semaphore(total_parts_in_flight)
        self.read_chunk_size = read_chunk_size
        config = Config(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "virtual"},
            # Fail fast when the endpoint is down: the request gets a 503, not a hang.
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # A few retries with backoff ride out a restarting S3 pod.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            # CRC32 on uploads (checked by SeaweedFS too) catches corruption in
            # transit *before* an upload is acknowledged; responses are verified
            # when the server sends a checksum. Over plain http botocore also signs
            # each body's SHA-256, the only protection against a tampering network
            # there; over https it signs UNSIGNED-PAYLOAD and trails the CRC32.
            # Measured per 200 MB: SHA-256 ~0.14 s and CRC32 ~0.06 s of our CPU,
            # beside ~2 s of SeaweedFS's: not worth weakening.
            request_checksum_calculation="when_supported",
            response_checksum_validation="when_supported",
            tcp_keepalive=True,
            # botocore keeps 10 connections; every download streams on one of its own
            # for as long as it runs, so a busy pod would open and drop extras each time.
            max_pool_connections=50,
            user_agent_extra="dokportal",
        )
        # An own session: boto3's default session is not safe to share across threads.
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key
        )
        self._client: S3Client = session.client(
            "s3", endpoint_url=endpoint_url, config=config, verify=ca_bundle
        )

    def __repr__(self) -> str:
        where = f"{self.endpoint_url}/{self.bucket}/{self.prefix}"
        return f"S3BlobStore({where!r})"

    def _key(self, blob_id: str) -> str:
        return self.prefix + validate_blob_id(blob_id)

    async def _call(self, action: str, func: Callable[[], _T]) -> _T:
        """Run one boto3 call in a thread, translating its errors."""
        try:
            return await anyio.to_thread.run_sync(func)
        except (BotoCoreError, ClientError) as exc:
            raise self._translate(exc, action) from exc

    # -- the BlobStore protocol --

    async def open_writer(self, blob_id: str) -> S3BlobWriter:
        """Start an upload; nothing is sent until a part is full or `commit`."""
        return S3BlobWriter(self, self._client, self._key(blob_id))

    async def read(self, blob_id: str) -> AsyncIterator[bytes]:
        """Stream the object body in ``read_chunk_size`` pieces."""
        key = self._key(blob_id)
        get = partial(self._client.get_object, Bucket=self.bucket, Key=key)
        try:
            response = await anyio.to_thread.run_sync(get)
        except ClientError as exc:
            if _code(exc) == "NoSuchKey":
                raise BlobNotFound(f"blob {blob_id} not found") from None
            raise self._translate(exc, "read") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "read") from exc
        body = response["Body"]
        try:
            size = self.read_chunk_size
            while chunk := await self._call("read", partial(body.read, size)):
                yield chunk
        finally:
            body.close()

    async def read_range(self, blob_id: str, start: int, length: int) -> bytes:
        """One ranged ``GetObject`` (``Range: bytes=start-end``), read whole: it is small."""
        key = self._key(blob_id)
        if start < 0 or length < 0:
            raise ValueError("a range starts and has a length at or above 0")
        if length == 0:
            return b""

        def get() -> bytes:
            response = self._client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
            body = response["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data

        try:
            return await anyio.to_thread.run_sync(get)
        except ClientError as exc:
            if _code(exc) == "NoSuchKey":
                raise BlobNotFound(f"blob {blob_id} not found") from None
            if _code(exc) == "InvalidRange":  # starts at or past the end
                return b""
            raise self._translate(exc, "read") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "read") from exc

    async def delete(self, blob_id: str) -> None:
        """Delete the object and abort unfinished uploads of it; idempotent."""
        key = self._key(blob_id)
        delete = partial(self._client.delete_object, Bucket=self.bucket, Key=key)
        await self._call("delete", delete)
        for upload_id in await self._pending_uploads(key):
            await self._abort_upload(key, upload_id)

    async def exists(self, blob_id: str) -> bool:
        """HEAD the object."""
        key = self._key(blob_id)
        head = partial(self._client.head_object, Bucket=self.bucket, Key=key)
        try:
            await anyio.to_thread.run_sync(head)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return False
            if _code(exc) == "403":
                await self._diagnose_forbidden()
            raise self._translate(exc, "check for a blob") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "check for a blob") from exc
        return True

    async def list_blobs(self) -> AsyncIterator[BlobInfo]:
        """List objects, then unfinished multipart uploads, page by page."""
        objects = self._client.get_paginator("list_objects_v2")
        pages = iter(objects.paginate(Bucket=self.bucket, Prefix=self.prefix))
        while page := await self._call("list blobs", partial(next, pages, None)):
            for item in page.get("Contents", []):
                blob_id = self._blob_id(item["Key"])
                if blob_id:
                    modified = item["LastModified"].astimezone(UTC)
                    yield BlobInfo(blob_id, item["Size"], modified)
        uploads = self._client.get_paginator("list_multipart_uploads")
        pages = iter(uploads.paginate(Bucket=self.bucket, Prefix=self.prefix))
        while page := await self._call("list uploads", partial(next, pages, None)):
            for upload in page.get("Uploads", []):
                blob_id = self._blob_id(upload.get("Key", ""))
                if blob_id and "Initiated" in upload:
                    started = upload["Initiated"].astimezone(UTC)
                    # Size unknown without one ListParts call per upload; 0 it is.
                    yield BlobInfo(blob_id, 0, started, partial=True)

    async def check(self) -> None:
        """List one key: proves endpoint, credentials, bucket and read access.

        No probe write: readiness runs every few seconds, and a write per probe would
        cost more than it tells.
        """
        list_one = partial(
            self._client.list_objects_v2,
            Bucket=self.bucket,
            Prefix=self.prefix,
            MaxKeys=1,
        )
        try:
            await anyio.to_thread.run_sync(list_one)
        except (BotoCoreError, ClientError) as exc:
            error = self._translate(exc, "list the bucket")
            # Readiness knows only "usable or not": every failure means unavailable.
            raise StorageUnavailable(str(error)) from exc

    # -- helpers for operators and tests --

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists already (idempotent)."""
        create: Callable[[], Any]
        if self.region == "us-east-1":
            create = partial(self._client.create_bucket, Bucket=self.bucket)
        else:
            create = partial(
                self._client.create_bucket,
                Bucket=self.bucket,
                CreateBucketConfiguration=cast(
                    "CreateBucketConfigurationTypeDef",
                    {"LocationConstraint": self.region},
                ),
            )
        try:
            await anyio.to_thread.run_sync(create)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise self._translate(exc, "create the bucket") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "create the bucket") from exc

    async def _diagnose_forbidden(self) -> None:
        """Turn a bare 403 (HEAD answers have no body) into the precise reason.

        A list request returns an error document that says whether the credentials or
        the permissions are wrong; raises that, or returns if the list succeeds.
        """
        list_one = partial(self._client.list_objects_v2, Bucket=self.bucket, MaxKeys=1)
        await self._call("list the bucket", list_one)

    async def _pending_uploads(self, key: str) -> list[str]:
        listing = partial(self._client.list_multipart_uploads, Bucket=self.bucket, Prefix=key)
        page = await self._call("list uploads", listing)
        return [
            upload["UploadId"]
            for upload in page.get("Uploads", [])
            if upload.get("Key") == key and "UploadId" in upload
        ]

    async def _abort_upload(self, key: str, upload_id: str) -> None:
        abort = partial(
            self._client.abort_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
        )
        try:
            await anyio.to_thread.run_sync(abort)
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise self._translate(exc, "abort an upload") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "abort an upload") from exc

    def _blob_id(self, key: str) -> str | None:
        """Return the blob id behind a key, or None for keys that are not ours."""
        if not key.startswith(self.prefix):
            return None
        candidate = key[len(self.prefix) :]
        try:
            return validate_blob_id(candidate)
        except StorageError:
            return None

    def _translate(self, exc: BaseException, action: str) -> StorageError:
        """Say precisely what is wrong, in words an operator can act on."""
        endpoint, bucket = self.endpoint_url, self.bucket
        if isinstance(exc, ClientError):
            code = _code(exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _CREDENTIAL_CODES:
                return StorageUnavailable(f"S3 credentials rejected by {endpoint} ({code})")
            if code == "AccessDenied" or status == 403:
                return StorageUnavailable(f"S3 access to bucket {bucket!r} denied at {endpoint}")
            if code == "NoSuchBucket":
                return StorageUnavailable(f"S3 bucket {bucket!r} does not exist at {endpoint}")
            if status >= 500 or code in ("SlowDown", "RequestTimeout"):
                return StorageUnavailable(
                    f"S3 endpoint {endpoint} failed ({action}): {code} HTTP {status}"
                )
            return StorageError(f"S3 at {endpoint} could not {action}: {code} (HTTP {status})")
        if isinstance(exc, SSLError):
            return StorageUnavailable(f"S3 endpoint {endpoint}: TLS failed ({exc})")
        if isinstance(exc, BotoConnectionError | ConnectionClosedError):
            return StorageUnavailable(f"S3 endpoint {endpoint} unreachable")
        if isinstance(exc, ReadTimeoutError):
            return StorageUnavailable(f"S3 endpoint {endpoint} timed out ({action})")
        if isinstance(exc, BotoCoreError):
            return StorageUnavailable(f"S3 endpoint {endpoint} failed ({action}): {exc}")
        return StorageError(f"S3 could not {action}: {exc!r}")


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
