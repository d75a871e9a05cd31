"""Both blob stores against real back ends: a folder and a SeaweedFS S3 server."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from dokportal.storage import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    FolderBlobStore,
    InvalidBlobId,
    S3BlobStore,
    StorageError,
    StorageUnavailable,
    new_blob_id,
    write_blob,
)
from tests.support.seaweed import S3Credentials, SeaweedS3

MIB = 1024 * 1024
CHUNK = 64 * 1024 + 16  # what the encryption layer hands over: one sealed segment


def leftovers(store: BlobStore, request: pytest.FixtureRequest) -> list[str]:
    """Everything the back end holds, looked at behind the store's back."""
    if isinstance(store, FolderBlobStore):
        return sorted(
            str(path.relative_to(store.root)) for path in store.root.rglob("*") if path.is_file()
        )
    assert isinstance(store, S3BlobStore)
    client = request.getfixturevalue("seaweed").client()
    objects = client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return sorted([item["Key"] for item in objects] + [f"upload:{up.get('Key')}" for up in uploads])


async def store_bytes(store: BlobStore, blob_id: str, data: bytes) -> None:
    writer = await store.open_writer(blob_id)
    for start in range(0, len(data), CHUNK):
        await writer.write(data[start : start + CHUNK])
    await writer.commit()


async def read_all(store: BlobStore, blob_id: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(blob_id)])


async def listing(store: BlobStore) -> dict[str, BlobInfo]:
    return {info.blob_id: info async for info in store.list_blobs()}


# -- round trips --


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "size", [0, 1000, 10 * MIB, 21 * MIB], ids=["empty", "small", "10M", "21M"]
)
async def test_round_trip(blob_store: BlobStore, size: int) -> None:
    """Sizes: empty, one small put, exactly two S3 parts (5 MiB), and five parts with a
    short last one, more than go up at once."""
    data = os.urandom(size)
    blob_id = new_blob_id()
    await store_bytes(blob_store, blob_id, data)
    assert await blob_store.exists(blob_id)
    chunks = [chunk async for chunk in blob_store.read(blob_id)]
    assert b"".join(chunks) == data
    assert all(len(chunk) <= 1 * MIB for chunk in chunks)  # streamed, not slurped
    assert (await listing(blob_store))[blob_id].size == size


@pytest.mark.asyncio
async def test_range_reads(blob_store: BlobStore) -> None:
    """What the PDF check's seekable reader asks for: pieces anywhere, short at the end."""
    data = os.urandom(6 * MIB + 123)  # a multipart upload on S3
    blob_id = new_blob_id()
    await store_bytes(blob_store, blob_id, data)
    size = len(data)
    for start, length in [
        (0, 11),
        (11, CHUNK),
        (5 * MIB - 7, 100),  # across the first S3 part's end
        (size - CHUNK, CHUNK + 1),  # one more than is there: the last piece
        (size - 1, 10),
        (size, 10),
        (size + 5, 10),
        (17, 0),
    ]:
        assert await blob_store.read_range(blob_id, start, length) == data[start : start + length]
    with pytest.raises(BlobNotFound):
        await blob_store.read_range(new_blob_id(), 0, 10)
    with pytest.raises(ValueError, match="range"):
        await blob_store.read_range(blob_id, -1, 10)


@pytest.mark.asyncio
async def test_write_blob_helper_aborts_on_failure(
    blob_store: BlobStore, request: pytest.FixtureRequest
) -> None:
    async def failing_upload() -> AsyncIterator[bytes]:
        yield os.urandom(9 * MIB)  # enough for a multipart upload on S3
        raise ConnectionResetError("client went away")

    blob_id = new_blob_id()
    with pytest.raises(ConnectionResetError):
        await write_blob(blob_store, blob_id, failing_upload())
    assert not await blob_store.exists(blob_id)
    assert leftovers(blob_store, request) == []

    async def good_upload() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    assert await write_blob(blob_store, blob_id, good_upload()) == 11
    assert await read_all(blob_store, blob_id) == b"hello world"


@pytest.mark.asyncio
async def test_cancelled_upload_leaves_nothing(
    blob_store: BlobStore, request: pytest.FixtureRequest
) -> None:
    """A client that disconnects mid-upload: the task is cancelled, nothing stays."""
    first_part_written = anyio.Event()

    async def stalled_upload() -> AsyncIterator[bytes]:
        yield os.urandom(9 * MIB)
        first_part_written.set()  # the consumer came back for more: part 1 is stored
        await anyio.sleep_forever()
        yield b"never"

    blob_id = new_blob_id()
    async with anyio.create_task_group() as group:
        group.start_soon(write_blob, blob_store, blob_id, stalled_upload())
        await first_part_written.wait()
        group.cancel_scope.cancel()
    assert not await blob_store.exists(blob_id)
    assert leftovers(blob_store, request) == []


# -- abort, delete, exists --


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [10, 9 * MIB], ids=["buffered", "multipart"])
async def test_abort_leaves_nothing(
    blob_store: BlobStore, request: pytest.FixtureRequest, size: int
) -> None:
    blob_id = new_blob_id()
    writer = await blob_store.open_writer(blob_id)
    await writer.write(os.urandom(size))
    await writer.abort()
    await writer.abort()  # twice is fine
    assert not await blob_store.exists(blob_id)
    assert leftovers(blob_store, request) == []
    assert await listing(blob_store) == {}
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, blob_id)
    with pytest.raises(StorageError, match="aborted"):
        await writer.write(b"more")
    with pytest.raises(StorageError, match="aborted"):
        await writer.commit()


@pytest.mark.asyncio
async def test_abort_after_commit_keeps_the_blob(blob_store: BlobStore) -> None:
    blob_id = new_blob_id()
    writer = await blob_store.open_writer(blob_id)
    await writer.write(b"acknowledged")
    await writer.commit()
    await writer.abort()
    assert await read_all(blob_store, blob_id) == b"acknowledged"


@pytest.mark.asyncio
async def test_nothing_visible_before_commit(blob_store: BlobStore) -> None:
    blob_id = new_blob_id()
    writer = await blob_store.open_writer(blob_id)
    await writer.write(os.urandom(9 * MIB))
    assert not await blob_store.exists(blob_id)
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, blob_id)
    await writer.commit()
    assert await blob_store.exists(blob_id)


@pytest.mark.asyncio
async def test_exists_and_delete_are_idempotent(
    blob_store: BlobStore, request: pytest.FixtureRequest
) -> None:
    blob_id = new_blob_id()
    assert not await blob_store.exists(blob_id)
    await blob_store.delete(blob_id)  # nothing there: no error
    await store_bytes(blob_store, blob_id, b"x" * 100)
    assert await blob_store.exists(blob_id)
    await blob_store.delete(blob_id)
    assert not await blob_store.exists(blob_id)
    await blob_store.delete(blob_id)
    assert leftovers(blob_store, request) == []


@pytest.mark.asyncio
async def test_read_missing_blob(blob_store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await read_all(blob_store, new_blob_id())


BAD_IDS = [
    "",
    "short",
    "../../../etc/passwd",
    "..",
    "ABCDEF0123",
    "abc/defgh",
    "abcdefgh\n",
    "abcdefgh.part",
    "a" * 65,
    "blob id with spaces",
    "%2e%2e%2fabcdef",
]


@pytest.mark.asyncio
async def test_invalid_ids_are_rejected(blob_store: BlobStore) -> None:
    for blob_id in BAD_IDS:
        with pytest.raises(InvalidBlobId):
            await blob_store.open_writer(blob_id)
        with pytest.raises(InvalidBlobId):
            await read_all(blob_store, blob_id)
        with pytest.raises(InvalidBlobId):
            await blob_store.exists(blob_id)
        with pytest.raises(InvalidBlobId):
            await blob_store.delete(blob_id)


# -- listing for the orphan sweeper --


@pytest.mark.asyncio
async def test_list_blobs_shows_partial_uploads(blob_store: BlobStore) -> None:
    done, crashed = new_blob_id(), new_blob_id()
    await store_bytes(blob_store, done, b"z" * 10)
    writer = await blob_store.open_writer(crashed)
    await writer.write(os.urandom(9 * MIB))  # on disk or in a multipart upload by now

    found = await listing(blob_store)
    assert set(found) == {done, crashed}
    assert (found[done].size, found[done].partial) == (10, False)
    assert found[crashed].partial
    now = datetime.now(UTC)
    for info in found.values():
        assert info.modified.tzinfo is not None
        assert now - timedelta(minutes=5) < info.modified <= now + timedelta(minutes=5)

    # The sweeper removes a stale partial upload by deleting its id.
    await blob_store.delete(crashed)
    assert set(await listing(blob_store)) == {done}
    await writer.abort()


# -- readiness and failures --


@pytest.mark.asyncio
async def test_check_passes(blob_store: BlobStore) -> None:
    await blob_store.check()


async def assert_unavailable(store: S3BlobStore, message: str) -> None:
    """Every entry point reports the same precise reason."""
    with pytest.raises(StorageUnavailable, match=message):
        await store.check()
    with pytest.raises(StorageUnavailable, match=message):
        await read_all(store, new_blob_id())
    with pytest.raises(StorageUnavailable, match=message):
        await store_bytes(store, new_blob_id(), b"document")
    with pytest.raises(StorageUnavailable, match=message):
        await store.exists(new_blob_id())


@pytest.mark.asyncio
@pytest.mark.s3
async def test_s3_endpoint_down(unused_tcp_port: int) -> None:
    endpoint = f"http://127.0.0.1:{unused_tcp_port}"
    store = S3BlobStore(endpoint, "bucket", "key", "secret")
    await assert_unavailable(store, f"S3 endpoint {endpoint} unreachable")


@pytest.mark.asyncio
@pytest.mark.s3
async def test_s3_credentials_rejected(seaweed: SeaweedS3, s3_bucket: str) -> None:
    for credentials in (seaweed.wrong_secret, S3Credentials("AKNOBODY", "nothing")):
        store = S3BlobStore(
            seaweed.endpoint_url, s3_bucket, credentials.access_key, credentials.secret_key
        )
        await assert_unavailable(store, "S3 credentials rejected")


@pytest.mark.asyncio
@pytest.mark.s3
async def test_s3_other_tenant_is_denied(seaweed: SeaweedS3, s3_bucket: str) -> None:
    other = seaweed.other
    store = S3BlobStore(seaweed.endpoint_url, s3_bucket, other.access_key, other.secret_key)
    await assert_unavailable(store, f"access to bucket '{s3_bucket}' denied")


@pytest.mark.asyncio
@pytest.mark.s3
async def test_s3_missing_bucket_and_ensure_bucket(seaweed: SeaweedS3) -> None:
    bucket = f"missing-{new_blob_id()[:12]}"
    store = S3BlobStore(seaweed.endpoint_url, bucket, seaweed.access_key, seaweed.secret_key)
    with pytest.raises(StorageUnavailable, match=f"bucket '{bucket}' does not exist"):
        await store.check()
    await store.ensure_bucket()
    await store.ensure_bucket()  # idempotent
    await store.check()
    seaweed.client().delete_bucket(Bucket=bucket)


@pytest.mark.asyncio
@pytest.mark.s3
async def test_s3_prefix_keeps_tenants_apart(seaweed: SeaweedS3, s3_bucket: str) -> None:
    def store(prefix: str) -> S3BlobStore:
        return S3BlobStore(
            seaweed.endpoint_url, s3_bucket, seaweed.access_key, seaweed.secret_key, prefix=prefix
        )

    north, south = store("north/"), store("south/")
    blob_id = new_blob_id()
    await store_bytes(north, blob_id, b"nord")
    assert not await south.exists(blob_id)
    assert set(await listing(north)) == {blob_id}
    assert await listing(south) == {}
    with pytest.raises(ValueError, match="prefix"):
        store("../escape")


@pytest.mark.asyncio
@pytest.mark.s3
async def test_s3_over_tls(seaweed: SeaweedS3, s3_bucket: str) -> None:
    """Over https boto3 sends aws-chunked bodies with trailing CRC32: SeaweedFS copes."""
    store = S3BlobStore(
        seaweed.https_endpoint_url,
        s3_bucket,
        seaweed.access_key,
        seaweed.secret_key,
        ca_bundle=str(seaweed.ca_bundle),
    )
    await store.check()
    for size in (1000, 9 * MIB):  # one PutObject, and a multipart upload
        data = os.urandom(size)
        blob_id = new_blob_id()
        await store_bytes(store, blob_id, data)
        assert await read_all(store, blob_id) == data
    untrusting = S3BlobStore(
        seaweed.https_endpoint_url, s3_bucket, seaweed.access_key, seaweed.secret_key
    )
    with pytest.raises(StorageUnavailable, match="certificate"):
        await untrusting.check()


@pytest.mark.asyncio
async def test_folder_layout_and_permissions(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    root.mkdir(mode=0o700)
    store = FolderBlobStore(root)
    blob_id = new_blob_id()
    await store_bytes(store, blob_id, b"secret ciphertext")
    path = root / blob_id[:2] / blob_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / ".incoming").stat().st_mode) == 0o700
    assert list((root / ".incoming").iterdir()) == []


@pytest.mark.asyncio
async def test_folder_missing_root_is_unavailable(tmp_path: Path) -> None:
    store = FolderBlobStore(tmp_path / "not-mounted")
    with pytest.raises(StorageUnavailable, match="not-mounted does not exist"):
        await store.check()
    with pytest.raises(StorageUnavailable, match="does not exist"):
        await store.open_writer(new_blob_id())
    assert not (tmp_path / "not-mounted").exists()  # never created behind our back
    await store.ensure_root()
    await store.check()
