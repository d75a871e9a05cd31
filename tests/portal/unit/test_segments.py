"""Streaming segment encryption: round trips, sizes, every tampering case failing."""

from __future__ import annotations

import os
import random
import tracemalloc
from collections.abc import Iterable, Iterator

import pytest

from dokportal.crypto import (
    SEGMENT_BYTES,
    CryptoError,
    DecryptionError,
    SegmentDecryptor,
    SegmentEncryptor,
    blob_aad,
    ciphertext_size,
    new_data_key,
    plaintext_size,
    segments,
)

HEADER = segments.HEADER_BYTES
SEALED = segments.SEALED_SEGMENT_BYTES
AAD = blob_aad("jobcenter-nord", "0123456789abcdef0123456789abcdef")
MIB = 1024 * 1024


def chunked(data: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    """Cut `data` into pieces of the given sizes (cycled), the last one shorter."""
    position = 0
    sizes = list(sizes)
    index = 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        yield data[position : position + size]
        position += size
        index += 1


def encrypt(key: bytes, plaintext: bytes, *, chunks: Iterable[int] = (MIB,)) -> bytes:
    encryptor = SegmentEncryptor(key, AAD)
    out = [encryptor.header()]
    out += [encryptor.update(piece) for piece in chunked(plaintext, chunks)]
    out.append(encryptor.finalize())
    return b"".join(out)


def decrypt(
    key: bytes, ciphertext: bytes, *, aad: bytes = AAD, chunks: Iterable[int] = (MIB,)
) -> bytes:
    decryptor = SegmentDecryptor(key, aad)
    out = [decryptor.update(piece) for piece in chunked(ciphertext, chunks)]
    out.append(decryptor.finalize())
    return b"".join(out)


def segments_of(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    """Split a ciphertext into header and sealed segments (for tampering)."""
    body = ciphertext[HEADER:]
    return ciphertext[:HEADER], [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


@pytest.fixture
def key() -> bytes:
    return new_data_key()


@pytest.fixture(scope="module")
def three_segments() -> tuple[bytes, bytes, bytes]:
    """Key, plaintext of 2.5 segments, and its ciphertext: first, middle and last."""
    data_key = new_data_key()
    plaintext = os.urandom(2 * SEGMENT_BYTES + SEGMENT_BYTES // 2)
    return data_key, plaintext, encrypt(data_key, plaintext)


# -- round trips --


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 2 * 65536, 2 * 65536 + 1, 20 * MIB])
def test_round_trip_sizes(key: bytes, size: int) -> None:
    plaintext = os.urandom(size)
    ciphertext = encrypt(key, plaintext)
    assert len(ciphertext) == ciphertext_size(size)
    assert plaintext_size(len(ciphertext)) == size
    assert decrypt(key, ciphertext) == plaintext


def test_empty_plaintext_is_one_empty_final_segment(key: bytes) -> None:
    ciphertext = encrypt(key, b"")
    assert len(ciphertext) == HEADER + segments.TAG_BYTES
    assert ciphertext.startswith(b"DKP\x01")


@pytest.mark.parametrize("seed", range(12))
def test_round_trip_random_sizes_and_chunks(key: bytes, seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([rng.randrange(0, 300_000), rng.randrange(1, 4) * SEGMENT_BYTES])
    plaintext = rng.randbytes(size)
    write_chunks = [rng.randrange(1, 150_000) for _ in range(5)]
    read_chunks = [rng.randrange(1, 150_000) for _ in range(5)]
    ciphertext = encrypt(key, plaintext, chunks=write_chunks)
    assert len(ciphertext) == ciphertext_size(size)
    assert decrypt(key, ciphertext, chunks=read_chunks) == plaintext


def test_tiny_chunks(three_segments: tuple[bytes, bytes, bytes]) -> None:
    data_key, plaintext, ciphertext = three_segments
    assert encrypt(data_key, plaintext, chunks=[1, 7, 4093]) != ciphertext  # new nonce
    assert decrypt(data_key, ciphertext, chunks=[1, 3, 5, 7, 11, 4099]) == plaintext


def test_segments_are_full_except_the_last(key: bytes) -> None:
    encryptor = SegmentEncryptor(key, AAD)
    encryptor.header()
    assert encryptor.update(b"x" * SEGMENT_BYTES) == b""  # may still be the last one
    assert len(encryptor.update(b"y")) == SEALED
    assert len(encryptor.finalize()) == 1 + segments.TAG_BYTES


def test_ciphertext_size_rejects_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="negative"):
        ciphertext_size(-1)
    for impossible in (0, HEADER + 15, HEADER + SEALED + 15, HEADER + SEALED + 16):
        with pytest.raises(ValueError, match="not a valid ciphertext size"):
            plaintext_size(impossible)


def test_memory_stays_bounded(key: bytes) -> None:
    """Streaming 8 MiB in 64 KiB chunks must not hold more than a few segments."""
    chunk = os.urandom(SEGMENT_BYTES)
    encryptor = SegmentEncryptor(key, AAD)
    decryptor = SegmentDecryptor(key, AAD)
    tracemalloc.start()
    try:
        decryptor.update(encryptor.header())
        for _ in range(128):
            decryptor.update(encryptor.update(chunk))
        decryptor.update(encryptor.finalize())
        decryptor.finalize()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * SEALED


# -- tampering: every case must raise DecryptionError --


def assert_rejected(data_key: bytes, ciphertext: bytes, *, aad: bytes = AAD) -> None:
    with pytest.raises(DecryptionError):
        decrypt(data_key, ciphertext, aad=aad)


@pytest.mark.parametrize(
    "position",
    [
        0,
        3,
        4,
        10,
        HEADER,
        HEADER + 100,
        HEADER + SEALED - 1,
        HEADER + SEALED + 5,
        -17,
        -1,
    ],
    ids=lambda p: f"byte{p}",
)
def test_bit_flip_anywhere(three_segments: tuple[bytes, bytes, bytes], position: int) -> None:
    data_key, _, ciphertext = three_segments
    tampered = bytearray(ciphertext)
    tampered[position] ^= 0x01
    assert_rejected(data_key, bytes(tampered))


def test_bit_flip_in_every_byte_of_a_small_blob(key: bytes) -> None:
    ciphertext = encrypt(key, b"Kontoauszug")
    for position in range(len(ciphertext)):
        for bit in (0x01, 0x80):
            tampered = bytearray(ciphertext)
            tampered[position] ^= bit
            assert_rejected(key, bytes(tampered))


@pytest.mark.parametrize(
    "cut",
    [0, 2, HEADER - 1, HEADER, HEADER + 15, HEADER + SEALED, HEADER + 2 * SEALED, -1],
    ids=lambda c: f"keep{c}",
)
def test_truncation(three_segments: tuple[bytes, bytes, bytes], cut: int) -> None:
    """Cut anywhere, including exactly at a segment boundary (final segment missing)."""
    data_key, _, ciphertext = three_segments
    assert_rejected(data_key, ciphertext[:cut])


def test_empty_blob_truncated_to_header(key: bytes) -> None:
    assert_rejected(key, encrypt(key, b"")[:HEADER])


@pytest.mark.parametrize("extra", [b"\x00", b"x" * SEALED])
def test_data_after_final_segment(three_segments: tuple[bytes, bytes, bytes], extra: bytes) -> None:
    data_key, _, ciphertext = three_segments
    assert_rejected(data_key, ciphertext + extra)


def test_full_final_segment_followed_by_data(key: bytes) -> None:
    """A final segment that happens to be full must not accept a successor."""
    ciphertext = encrypt(key, os.urandom(SEGMENT_BYTES))
    _, (last,) = segments_of(ciphertext)
    assert_rejected(key, ciphertext + last)


def test_reordered_segments(three_segments: tuple[bytes, bytes, bytes]) -> None:
    data_key, _, ciphertext = three_segments
    header, (first, middle, last) = segments_of(ciphertext)
    assert_rejected(data_key, header + middle + first + last)


def test_duplicated_and_dropped_segments(
    three_segments: tuple[bytes, bytes, bytes],
) -> None:
    data_key, _, ciphertext = three_segments
    header, (first, middle, last) = segments_of(ciphertext)
    assert_rejected(data_key, header + first + first + middle + last)
    assert_rejected(data_key, header + first + last)
    assert_rejected(data_key, header + middle + last)


def test_last_segment_moved_to_the_front(key: bytes) -> None:
    ciphertext = encrypt(key, os.urandom(SEGMENT_BYTES + 10))
    header, (_, last) = segments_of(ciphertext)
    assert_rejected(key, header + last)


@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "other-key"])
def test_segments_spliced_from_another_file(same_key: bool) -> None:
    key_a = new_data_key()
    key_b = key_a if same_key else new_data_key()
    size = 2 * SEGMENT_BYTES + 100
    header_a, parts_a = segments_of(encrypt(key_a, os.urandom(size)))
    header_b, parts_b = segments_of(encrypt(key_b, os.urandom(size)))
    for index in range(3):
        spliced = list(parts_a)
        spliced[index] = parts_b[index]
        assert_rejected(key_a, header_a + b"".join(spliced))
    # B's header with A's segments, and A's header with all of B's segments.
    assert_rejected(key_a, header_b + b"".join(parts_a))
    assert_rejected(key_a, header_a + b"".join(parts_b))


def test_wrong_aad(three_segments: tuple[bytes, bytes, bytes]) -> None:
    data_key, _, ciphertext = three_segments
    assert_rejected(data_key, ciphertext, aad=blob_aad("jobcenter-sued", "0" * 32))
    assert_rejected(data_key, ciphertext, aad=blob_aad("jobcenter-nord", "1123456789abcdef" * 2))


def test_wrong_key(three_segments: tuple[bytes, bytes, bytes]) -> None:
    _, _, ciphertext = three_segments
    assert_rejected(new_data_key(), ciphertext)


@pytest.mark.parametrize(
    "header", [b"", b"DKP", b"DKP\x02" + bytes(7), b"PDF\x01" + bytes(7), b"%PDF-1.7"]
)
def test_bad_header(key: bytes, header: bytes) -> None:
    _, parts = segments_of(encrypt(key, b"hello"))
    assert_rejected(key, header + b"".join(parts))


def test_bad_magic_fails_before_any_segment(key: bytes) -> None:
    decryptor = SegmentDecryptor(key, AAD)
    with pytest.raises(DecryptionError, match="header"):
        decryptor.update(b"GIF8")


def test_no_plaintext_released_from_a_failing_segment(
    three_segments: tuple[bytes, bytes, bytes],
) -> None:
    data_key, plaintext, ciphertext = three_segments
    tampered = bytearray(ciphertext)
    tampered[HEADER + SEALED + 1] ^= 0x04  # inside the second segment
    decryptor = SegmentDecryptor(data_key, AAD)
    released = bytearray()
    pieces = iter(chunked(bytes(tampered), [1000]))
    with pytest.raises(DecryptionError):  # noqa: PT012 - the loop *is* the single step
        for piece in pieces:
            released += decryptor.update(piece)
    assert bytes(released) == plaintext[:SEGMENT_BYTES]  # only the verified first one
    with pytest.raises(DecryptionError):  # and it stays failed
        decryptor.update(b"")
    with pytest.raises(DecryptionError):
        decryptor.finalize()


# -- misuse and limits --


def test_encryptor_requires_header_first(key: bytes) -> None:
    encryptor = SegmentEncryptor(key, AAD)
    with pytest.raises(CryptoError, match="header"):
        encryptor.update(b"x")


def test_finalized_streams_refuse_more(key: bytes) -> None:
    encryptor = SegmentEncryptor(key, AAD)
    ciphertext = encryptor.header() + encryptor.finalize()
    with pytest.raises(CryptoError):
        encryptor.update(b"more")
    decryptor = SegmentDecryptor(key, AAD)
    decryptor.update(ciphertext)
    decryptor.finalize()
    with pytest.raises(CryptoError):
        decryptor.update(b"more")


@pytest.mark.parametrize("bad_key", [b"", bytes(16), bytes(33)])
def test_key_must_be_256_bits(bad_key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SegmentEncryptor(bad_key, AAD)
    with pytest.raises(ValueError, match="32 bytes"):
        SegmentDecryptor(bad_key, AAD)


def test_encryptor_counter_overflow(key: bytes) -> None:
    encryptor = SegmentEncryptor(key, AAD)
    encryptor.header()
    encryptor._counter = segments.MAX_SEGMENTS - 1  # 256 TiB is no unit test
    encryptor.update(os.urandom(SEGMENT_BYTES + 1))  # uses the last counter value
    with pytest.raises(CryptoError, match="overflow"):
        encryptor.finalize()


def test_decryptor_counter_overflow(key: bytes) -> None:
    ciphertext = encrypt(key, os.urandom(2 * SEGMENT_BYTES))
    decryptor = SegmentDecryptor(key, AAD)
    decryptor.update(ciphertext[:HEADER])
    decryptor._counter = segments.MAX_SEGMENTS  # as above
    with pytest.raises(DecryptionError):
        decryptor.update(ciphertext[HEADER:])


def test_blob_aad_is_unambiguous() -> None:
    assert blob_aad("ab", "c") != blob_aad("a", "bc")
    assert blob_aad("t", "b") != blob_aad("b", "t")
    assert segments.FORMAT_VERSION.to_bytes(2, "big") in blob_aad("t", "b")
    with pytest.raises(ValueError, match="1 to 65535 bytes"):
        blob_aad("", "blob")
    with pytest.raises(ValueError, match="1 to 65535 bytes"):
        blob_aad("tenant", "")


def test_accepts_any_bytes_like(key: bytes) -> None:
    plaintext = os.urandom(SEGMENT_BYTES + 5)
    encryptor = SegmentEncryptor(key, AAD)
    ciphertext = encryptor.header() + encryptor.update(bytearray(plaintext))
    ciphertext += encryptor.finalize()
    decryptor = SegmentDecryptor(key, AAD)
    assert decryptor.update(memoryview(ciphertext)) + decryptor.finalize() == plaintext
