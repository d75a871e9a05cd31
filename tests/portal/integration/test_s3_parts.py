"""The S3 writer's parts in flight, against SeaweedFS: bounded, ordered, and cleaned up.

Two helpers make timing certain instead of likely. `HeldParts` wraps the store's real
boto3 client and holds each ``upload_part`` call until the test lets it go; every call
still reaches SeaweedFS unchanged, so this injects no fault, only the order of events.
`tcp_link` puts a real TCP connection between store and server that the test can cut:
the network fault is real, seen by botocore as by the portal in production.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import pytest

from dokportal.storage import BlobWriter, S3BlobStore, StorageError, StorageUnavailable, new_blob_id
from tests.support.seaweed import SeaweedS3
from tests.support.tcp_link import TcpLink, tcp_link

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.s3

PART = 5 * 1024 * 1024


class HeldParts:
    """A boto3 client whose ``upload_part`` calls wait for `release`; see the docstring."""

    def __init__(self, client: S3Client) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._gates: dict[int, threading.Event] = {}
        self._finished: dict[int, threading.Event] = {}
        self._released_all = False
        self._running = 0
        self.most_at_once = 0
        self.events: list[str] = []
        self.completed_parts: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def upload_part(self, **kwargs: Any) -> Any:
        number: int = kwargs["PartNumber"]
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
            self.events.append(f"start {number}")
        self._event(self._gates, number).wait()
        try:
            return self._client.upload_part(**kwargs)
        finally:
            with self._lock:
                self._running -= 1
                self.events.append(f"end {number}")
            self._event(self._finished, number).set()

    def abort_multipart_upload(self, **kwargs: Any) -> Any:
        with self._lock:
            self.events.append("abort")
        return self._client.abort_multipart_upload(**kwargs)

    def complete_multipart_upload(self, **kwargs: Any) -> Any:
        self.completed_parts = [part["PartNumber"] for part in kwargs["MultipartUpload"]["Parts"]]
        return self._client.complete_multipart_upload(**kwargs)

    def release(self, number: int) -> None:
        self._event(self._gates, number).set()

    def release_all(self) -> None:
        with self._lock:
            self._released_all = True
            gates = list(self._gates.values())
        for gate in gates:
            gate.set()

    async def finished(self, number: int) -> None:
        """Wait until S3 has answered part `number`."""
        event = self._event(self._finished, number)
        with anyio.fail_after(30):
            await anyio.to_thread.run_sync(event.wait, abandon_on_cancel=True)

    def _event(self, events: dict[int, threading.Event], number: int) -> threading.Event:
        with self._lock:
            event = events.setdefault(number, threading.Event())
            if self._released_all and events is self._gates:
                event.set()
            return event


def remains(seaweed: SeaweedS3, bucket: str) -> list[str]:
    """Objects and unfinished multipart uploads, seen directly on the server."""
    client = seaweed.client()
    objects = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sorted([item["Key"] for item in objects] + [f"upload:{up.get('Key')}" for up in uploads])


async def read_all(store: S3BlobStore, blob_id: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(blob_id)])


def s3_store(seaweed: SeaweedS3, bucket: str, **options: Any) -> S3BlobStore:
    endpoint = options.pop("endpoint_url", seaweed.endpoint_url)
    return S3BlobStore(
        endpoint, bucket, seaweed.access_key, seaweed.secret_key, part_size=PART, **options
    )


HeldStore = Callable[..., tuple[S3BlobStore, HeldParts]]


@pytest.fixture
def held_store(
    seaweed: SeaweedS3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HeldStore]:
    """Makes stores whose parts wait for the test; all are let go at the end, pass or fail."""
    made: list[HeldParts] = []

    def make(**options: Any) -> tuple[S3BlobStore, HeldParts]:
        store = s3_store(seaweed, s3_bucket, **options)
        held = HeldParts(store._client)
        monkeypatch.setattr(store, "_client", held)
        made.append(held)
        return store, held

    yield make
    for held in made:
        held.release_all()


async def test_parts_go_up_in_the_background_bounded_and_in_any_order(
    held_store: HeldStore,
) -> None:
    store, held = held_store(parts_in_flight=2, total_parts_in_flight=4)
    data = os.urandom(3 * PART + 1000)
    blob_id = new_blob_id()
    writer = await store.open_writer(blob_id)
    third_written = anyio.Event()

    async def write_third_part() -> None:
        await writer.write(data[2 * PART : 3 * PART])
        third_written.set()

    with anyio.fail_after(60):
        # Both return while their parts are held: the uploads run in the background.
        await writer.write(data[:PART])
        await writer.write(data[PART : 2 * PART])
        async with anyio.create_task_group() as group:
            group.start_soon(write_third_part)
            await anyio.wait_all_tasks_blocked()
            assert not third_written.is_set()  # two in flight: the third part must wait
            held.release(2)  # part 2 finishes first
            await held.finished(2)
        held.release_all()
        await writer.write(data[3 * PART :])
        await writer.commit()

    assert held.events.index("end 2") < held.events.index("end 1")
    assert held.most_at_once == 2
    assert held.completed_parts == [1, 2, 3, 4]
    assert await read_all(store, blob_id) == data


async def test_the_store_bounds_parts_in_flight_across_uploads(held_store: HeldStore) -> None:
    store, held = held_store(parts_in_flight=2, total_parts_in_flight=2)
    first, second = new_blob_id(), new_blob_id()
    data = os.urandom(2 * PART)
    first_writer = await store.open_writer(first)
    second_writer = await store.open_writer(second)
    second_sent = anyio.Event()

    async def write_second() -> None:
        await second_writer.write(data[:PART])
        second_sent.set()

    with anyio.fail_after(60):
        await first_writer.write(data[:PART])
        await first_writer.write(data[PART:])
        async with anyio.create_task_group() as group:
            group.start_soon(write_second)
            await anyio.wait_all_tasks_blocked()
            assert not second_sent.is_set()  # the store's two slots are taken
            held.release_all()
        await first_writer.commit()
        await second_writer.commit()

    assert held.most_at_once == 2
    assert await read_all(store, first) == data
    assert await read_all(store, second) == data[:PART]


async def test_abort_waits_for_parts_in_flight_then_leaves_nothing(
    held_store: HeldStore, seaweed: SeaweedS3
) -> None:
    store, held = held_store(parts_in_flight=2)
    blob_id = new_blob_id()
    writer = await store.open_writer(blob_id)
    with anyio.fail_after(60):
        await writer.write(os.urandom(PART))
        await writer.write(os.urandom(PART))
        async with anyio.create_task_group() as group:
            group.start_soon(writer.abort)
            try:
                await anyio.wait_all_tasks_blocked()
                assert remains(seaweed, store.bucket) == [f"upload:{blob_id}"]
            finally:  # abort is shielded: it would wait for held parts forever
                held.release_all()

    # Both parts were answered before the upload was aborted: none can land after it.
    assert held.events.index("abort") > max(held.events.index("end 1"), held.events.index("end 2"))
    assert remains(seaweed, store.bucket) == []
    with pytest.raises(StorageError, match="aborted"):
        await writer.write(b"more")


async def write_parts(writer: BlobWriter, count: int) -> None:
    for _ in range(count):
        await writer.write(os.urandom(PART))


def linked_store(link: TcpLink, seaweed: SeaweedS3, bucket: str) -> S3BlobStore:
    # No retries: a cut link fails every attempt anyway, only later.
    return s3_store(seaweed, bucket, endpoint_url=link.url, max_attempts=1)


@pytest.mark.parametrize("surfaces_at", ["write", "commit"])
async def test_lost_connection_fails_the_upload_and_abort_cleans_up(
    seaweed: SeaweedS3, s3_bucket: str, surfaces_at: str
) -> None:
    """The link to S3 breaks with parts in flight; once it is back, abort removes all."""
    server = urlsplit(seaweed.endpoint_url)
    assert server.hostname is not None and server.port is not None
    blob_id = new_blob_id()
    with tcp_link((server.hostname, server.port)) as link:
        store = linked_store(link, seaweed, s3_bucket)
        writer = await store.open_writer(blob_id)
        await writer.write(os.urandom(PART))  # starts the upload; part 1 is on its way
        if surfaces_at == "write":
            link.cut()
            with pytest.raises(StorageUnavailable, match=f"S3 endpoint {link.url}"):
                await write_parts(writer, 3)  # the third finds two failed parts at the latest
        else:
            await writer.write(os.urandom(PART // 2))
            link.cut()
            with pytest.raises(StorageUnavailable, match=f"S3 endpoint {link.url}"):
                await writer.commit()
        with pytest.raises(StorageError, match="failed"):
            await writer.write(b"more")  # poisoned until aborted
        assert remains(seaweed, s3_bucket) == [f"upload:{blob_id}"]

        link.restore()
        await writer.abort()
    assert remains(seaweed, s3_bucket) == []
