"""Random access to a sealed blob: the right bytes at any offset, every segment authenticated
(the last one with its flag, nothing after it), and never more than a few segments held."""

from __future__ import annotations

import io
import os
import random

import pytest

from dokportal.crypto import SEGMENT_BYTES, DecryptionError, SegmentEncryptor, new_data_key
from dokportal.crypto.seekable import CACHED_SEGMENTS, SegmentReader
from dokportal.crypto.segments import HEADER_BYTES, SEALED_SEGMENT_BYTES, blob_aad

AAD = blob_aad("jobcenter-nord", "0123456789abcdef0123456789abcdef")


def seal(key: bytes, plaintext: bytes) -> bytes:
    encryptor = SegmentEncryptor(key, AAD)
    return encryptor.header() + encryptor.update(plaintext) + encryptor.finalize()


class Blob:
    """Ciphertext served by range reads, as a store does; records what was asked."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.fetches: list[tuple[int, int]] = []

    def fetch(self, start: int, length: int) -> bytes:
        self.fetches.append((start, length))
        return self.data[start : start + length]


def reader(key: bytes, blob: Blob, size: int, aad: bytes = AAD) -> SegmentReader:
    return SegmentReader(key, aad, size, blob.fetch)


def segment(ciphertext: bytes, index: int) -> slice:
    start = HEADER_BYTES + index * SEALED_SEGMENT_BYTES
    return slice(start, start + SEALED_SEGMENT_BYTES)


@pytest.fixture
def key() -> bytes:
    return new_data_key()


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 5 * SEGMENT_BYTES - 7]
)
def test_any_range_reads_the_plaintext(key: bytes, size: int) -> None:
    plain = os.urandom(size)
    stream = io.BufferedReader(reader(key, Blob(seal(key, plain)), size), 4096)
    assert stream.read() == plain
    rng = random.Random(size)
    for _ in range(50):
        start, length = rng.randrange(size + 10), rng.randrange(3 * SEGMENT_BYTES)
        stream.seek(start)
        assert stream.read(length) == plain[start : start + length]
    assert stream.seek(-3, io.SEEK_END) == max(0, size - 3)
    assert stream.read() == (plain[-3:] if size >= 3 else plain)


def test_only_a_few_segments_are_held_and_each_fetch_is_one_segment(key: bytes) -> None:
    size = 10 * SEGMENT_BYTES + 5
    blob = Blob(seal(key, os.urandom(size)))
    raw = reader(key, blob, size)
    buffer = bytearray(1000)
    for position in [*range(0, size, 7000), size - 1, 0, size - 1]:
        raw.seek(position)
        raw.readinto(buffer)
        assert raw.cached_segments <= CACHED_SEGMENTS
    assert all(length <= SEALED_SEGMENT_BYTES + 1 for _, length in blob.fetches)
    fetched = len(blob.fetches)
    raw.seek(size - 1)
    raw.readinto(buffer)  # the last segment is cached: read again without a fetch
    assert len(blob.fetches) == fetched


def test_a_tampered_segment_fails_where_it_is_read(key: bytes) -> None:
    size = 3 * SEGMENT_BYTES
    plain = os.urandom(size)
    data = bytearray(seal(key, plain))
    data[segment(bytes(data), 1).start + 100] ^= 1
    raw = reader(key, Blob(bytes(data)), size)
    buffer = bytearray(10)
    assert raw.readinto(buffer) == 10 and bytes(buffer) == plain[:10]
    raw.seek(SEGMENT_BYTES + 5)
    with pytest.raises(DecryptionError, match="segment 1"):
        raw.readinto(buffer)
    assert isinstance(raw.failure, DecryptionError)


def test_reordered_segments_fail(key: bytes) -> None:
    size = 3 * SEGMENT_BYTES
    data = seal(key, os.urandom(size))
    first, second = data[segment(data, 0)], data[segment(data, 1)]
    swapped = data[:HEADER_BYTES] + second + first + data[segment(data, 2).start :]
    raw = reader(key, Blob(swapped), size)
    with pytest.raises(DecryptionError):
        raw.read(10)


@pytest.mark.parametrize("change", ["cut-at-boundary", "appended", "one-byte-short"])
def test_the_final_segment_is_checked_with_its_flag_and_its_end(key: bytes, change: str) -> None:
    size = 3 * SEGMENT_BYTES + 100
    data = seal(key, os.urandom(size))
    claimed = size
    if change == "cut-at-boundary":
        # Three whole segments, none flagged last: looks complete at its own size.
        data, claimed = data[: segment(data, 2).stop], 3 * SEGMENT_BYTES
    elif change == "appended":
        data += b"\0"
    else:
        data = data[:-1]
    raw = reader(key, Blob(data), claimed)
    raw.seek(claimed - 1)
    with pytest.raises(DecryptionError):
        raw.read(1)
    raw.seek(0)
    assert len(raw.read(10)) == 10  # a segment before the end is still fine


def test_a_smaller_claimed_size_fails(key: bytes) -> None:
    data = seal(key, os.urandom(2 * SEGMENT_BYTES + 1))
    raw = reader(key, Blob(data), SEGMENT_BYTES + 1)  # segment 1 is not the last one
    raw.seek(SEGMENT_BYTES)
    with pytest.raises(DecryptionError):
        raw.read(1)


def test_wrong_associated_data_fails(key: bytes) -> None:
    data = seal(key, b"x" * 100)
    other = blob_aad("jobcenter-nord", "ffffffffffffffffffffffffffffffff")
    with pytest.raises(DecryptionError):
        reader(key, Blob(data), 100, aad=other).read(1)


@pytest.mark.parametrize("header", [b"", b"DKP", b"XXXX1234567"])
def test_a_bad_header_fails_at_once(key: bytes, header: bytes) -> None:
    with pytest.raises(DecryptionError, match="header"):
        reader(key, Blob(header), 0)
