"""The ingest pipeline on a real folder store: batches hashed, encrypted and written in a
worker thread while the next batch arrives (issue 6), without losing order or bytes, and
without anything written after a failure or an abort."""

from __future__ import annotations

import asyncio
import hashlib
import io
import tracemalloc
from pathlib import Path

import anyio
import pikepdf
import pytest

from dokportal.crypto import DecryptionError, Keyring
from dokportal.crypto.segments import SEALED_SEGMENT_BYTES
from dokportal.files import FileIngest, Ingested
from dokportal.files.ingest import BATCH_BYTES
from dokportal.files.reading import open_decrypted
from dokportal.lib.errors import UnsupportedType
from dokportal.storage import BlobStore, FolderBlobStore, StorageUnavailable
from dokportal.storage.folder import FolderBlobWriter
from tests.support import documents

PDF = frozenset({"application/pdf"})


def ingest(store: BlobStore, keyring: Keyring) -> FileIngest:
    return FileIngest(
        store=store,
        keyring=keyring,
        tenant="bench",
        filename="scan.pdf",
        max_bytes=64 * 1024 * 1024,
        max_words="64 MB",
        allowed=PDF,
    )


@pytest.fixture
def store(tmp_path: Path) -> FolderBlobStore:
    root = tmp_path / "blobs"
    root.mkdir()
    return FolderBlobStore(root)


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


@pytest.mark.parametrize(
    "chunk", [1, 4096, 64 * 1024 + 7, BATCH_BYTES - 1, BATCH_BYTES + 3, 5 * BATCH_BYTES]
)
async def test_many_batches_in_odd_chunks_round_trip(
    store: FolderBlobStore, keyring: Keyring, chunk: int
) -> None:
    # One byte at a time: keep it short.
    content = documents.padded_pdf(5000 if chunk == 1 else 3 * BATCH_BYTES + 12345)
    job = ingest(store, keyring)
    for start in range(0, len(content), chunk):
        await job.feed(content[start : start + chunk])
    stored = await job.finish()

    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    plain = b"".join(
        [piece async for piece in await open_decrypted(store, keyring, "bench", stored.as_row())]
    )
    assert plain == content


class FailingWriter:
    """A real folder writer whose third write fails, as a full volume would."""

    def __init__(self, inner: FolderBlobWriter) -> None:
        self.inner = inner
        self.writes = 0
        self.after_abort = 0
        self.aborted = False

    async def write(self, data: bytes) -> None:
        if self.aborted:
            self.after_abort += 1
        self.writes += 1
        if self.writes == 3:
            raise StorageUnavailable("blob folder: No space left on device")
        await self.inner.write(data)

    async def commit(self) -> None:
        await self.inner.commit()

    async def abort(self) -> None:
        self.aborted = True
        await self.inner.abort()


async def test_storage_failure_in_the_worker_surfaces_and_abort_leaves_nothing(
    store: FolderBlobStore, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[FailingWriter] = []
    real_open = store.open_writer

    async def open_failing(blob_id: str) -> FailingWriter:
        writer = FailingWriter(await real_open(blob_id))
        writers.append(writer)
        return writer

    monkeypatch.setattr(store, "open_writer", open_failing)
    job = ingest(store, keyring)
    content = documents.padded_pdf(6 * BATCH_BYTES)

    async def send() -> None:
        for start in range(0, len(content), 64 * 1024):
            await job.feed(content[start : start + 64 * 1024])
        await job.finish()

    with pytest.raises(StorageUnavailable):
        await send()
    await job.abort()
    await job.abort()  # twice is fine

    (writer,) = writers
    assert writer.aborted and writer.after_abort == 0
    assert files_under(store.root) == []


async def test_abort_with_a_batch_in_flight_waits_for_it_and_removes_the_part(
    store: FolderBlobStore, keyring: Keyring
) -> None:
    job = ingest(store, keyring)
    await job.feed(documents.padded_pdf(2 * BATCH_BYTES))  # the second batch in flight
    await job.abort()
    assert files_under(store.root) == []


async def test_a_large_pdf_is_checked_from_the_stored_blob_not_from_memory(
    store: FolderBlobStore, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The design rule "never the whole file in memory" holds for PDFs too: qpdf reads the
    stored ciphertext through a decrypting reader, a segment at a time (issue: 226 MiB
    peak RSS for a 200 MB upload when the check collected the plaintext)."""
    content = documents.padded_pdf(60 * 1000 * 1000)
    fetched: list[int] = []
    real_read_range = getattr(store, "read_range", None)

    async def spy(blob_id: str, start: int, length: int) -> bytes:
        assert real_read_range is not None
        fetched.append(length)
        data: bytes = await real_read_range(blob_id, start, length)
        return data

    monkeypatch.setattr(store, "read_range", spy, raising=False)
    job = ingest(store, keyring)
    tracemalloc.start()
    try:
        for start in range(0, len(content), 64 * 1024):
            await job.feed(content[start : start + 64 * 1024])
        stored = await job.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored.size == len(content) and stored.active_content == ()
    # Batches in flight and the writer's buffer: a few MiB, whatever the file's size.
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    # What qpdf's side cannot show to tracemalloc: it got one sealed segment per fetch,
    # and only the few it needed (header, trailer, page), not the 60 MB of padding.
    assert fetched and max(fetched) <= SEALED_SEGMENT_BYTES + 1
    assert sum(fetched) < 1024 * 1024


async def ingest_all(job: FileIngest, content: bytes) -> Ingested:
    try:
        for start in range(0, len(content), 64 * 1024):
            await job.feed(content[start : start + 64 * 1024])
        return await job.finish()
    except BaseException:
        await job.abort()  # as every caller does
        raise


async def blobs(store: BlobStore) -> list[str]:
    """Committed blobs and partial uploads alike."""
    return [info.blob_id async for info in store.list_blobs()]


def scripted_pdf(padding: int) -> bytes:
    """A PDF that runs a script when opened, its objects behind ``padding`` bytes."""
    with pikepdf.open(io.BytesIO(documents.padded_pdf(padding))) as pdf:
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")
        out = io.BytesIO()
        pdf.save(out, compress_streams=False)
    return out.getvalue()


@pytest.mark.parametrize(
    "content",
    [documents.pdf()[:-40], documents.padded_pdf(3 * BATCH_BYTES)[:-1000]],
    ids=["cut", "large-cut"],
)
async def test_a_refused_pdf_is_deleted_from_the_store_before_finish_raises(
    blob_store: BlobStore, keyring: Keyring, content: bytes
) -> None:
    job = ingest(blob_store, keyring)
    with pytest.raises(UnsupportedType) as refused:
        await ingest_all(job, content)
    assert "is damaged or incomplete" in refused.value.message % refused.value.params
    assert await blobs(blob_store) == []


async def test_active_content_is_found_in_the_stored_blob(
    blob_store: BlobStore, keyring: Keyring
) -> None:
    content = scripted_pdf(6 * 1024 * 1024)  # a multipart upload on S3
    stored = await ingest_all(ingest(blob_store, keyring), content)
    assert stored.active_content == ("javascript", "open-action")
    assert await blobs(blob_store) == [stored.blob_id]
    plain = b"".join(
        [c async for c in await open_decrypted(blob_store, keyring, "bench", stored.as_row())]
    )
    assert plain == content


async def test_a_blob_that_does_not_authenticate_during_the_check_is_deleted(
    store: FolderBlobStore, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage that hands back other bytes than were written: the check fails closed, as a
    storage fault (not as the customer's damaged file), and nothing stays behind."""
    real_read_range = store.read_range

    async def flipped(blob_id: str, start: int, length: int) -> bytes:
        data = bytearray(await real_read_range(blob_id, start, length))
        if start > 0 and data:
            data[len(data) // 2] ^= 1
        return bytes(data)

    monkeypatch.setattr(store, "read_range", flipped)
    with pytest.raises(DecryptionError):
        await ingest_all(ingest(store, keyring), documents.padded_pdf(BATCH_BYTES))
    assert await blobs(store) == []


async def test_an_upload_cancelled_during_the_check_leaves_no_blob(
    store: FolderBlobStore, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer who goes away while qpdf reads: the committed blob is deleted again."""
    reading = asyncio.Event()

    async def stuck(blob_id: str, start: int, length: int) -> bytes:
        reading.set()
        await asyncio.Event().wait()  # a store that never answers
        raise AssertionError("not reached")

    monkeypatch.setattr(store, "read_range", stuck)
    upload = asyncio.ensure_future(ingest_all(ingest(store, keyring), documents.pdf()))
    with anyio.fail_after(30):
        await reading.wait()
        assert await blobs(store) != []  # committed, being checked
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
    assert await blobs(store) == []
