"""The streaming PNG cleaner: text, EXIF and time chunks dropped, CRCs and the exact image
data size checked in constant memory, however the stream is cut (hypothesis)."""

from __future__ import annotations

import io
import itertools
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dokportal.files.checks import TooManyPixels, Unreadable
from dokportal.files.png_clean import PngCleaner, raw_size
from tests.support import documents

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def clean(data: bytes, cuts: list[int] | None = None, limit: int = 40_000_000) -> bytes:
    cleaner = PngCleaner(limit)
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts or [])})
    out = b"".join(cleaner.feed(data[a:b]) for a, b in itertools.pairwise(points))
    return out + cleaner.close()


def png(
    width: int,
    height: int,
    *,
    colour: int = 2,
    depth: int = 8,
    interlace: int = 0,
    extra: list[bytes] | None = None,
    idat_parts: int = 1,
) -> bytes:
    """A hand-made PNG (Pillow writes no interlaced PNGs): all-zero rows, filter 0."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    data = zlib.compress(bytes(raw_size(width, height, depth, colour, interlace == 1)))
    step = max(1, len(data) // idat_parts + 1)
    idats = [chunk(b"IDAT", data[i : i + step]) for i in range(0, len(data), step)]
    extra = extra or []
    return (
        SIGNATURE + chunk(b"IHDR", header) + b"".join(extra) + b"".join(idats) + chunk(b"IEND", b"")
    )


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.tobytes()


METADATA = [
    chunk(b"tEXt", b"Comment\x00LEAK-TEXT"),
    chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00LEAK-XMP"),
    chunk(b"zTXt", b"Title\x00\x00" + zlib.compress(b"LEAK-Z")),
    chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08LEAK-EXIF"),
    chunk(b"tIME", b"\x07\xea\x0c\x01\x05\x00\x00"),
    chunk(b"prVt", b"LEAK-PRIVATE"),
]


@settings(max_examples=120, derandomize=True, deadline=None)
@given(
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    interlace=st.sampled_from([0, 1]),
    form=st.sampled_from([(0, 1), (0, 16), (2, 8), (3, 4), (4, 8), (6, 16)]),
    metadata=st.lists(st.sampled_from(METADATA), max_size=5),
    parts=st.integers(1, 4),
    trailer=st.binary(max_size=32),
    cuts=st.lists(st.integers(0, 5000), max_size=10),
)
def test_random_pngs_lose_their_metadata_and_keep_their_pixels(
    width: int,
    height: int,
    interlace: int,
    form: tuple[int, int],
    metadata: list[bytes],
    parts: int,
    trailer: bytes,
    cuts: list[int],
) -> None:
    colour, depth = form
    palette = [chunk(b"PLTE", bytes(range(12)))] if colour == 3 else []
    plain = png(
        width,
        height,
        colour=colour,
        depth=depth,
        interlace=interlace,
        extra=palette,
        idat_parts=parts,
    )
    dressed = png(
        width,
        height,
        colour=colour,
        depth=depth,
        interlace=interlace,
        extra=palette + metadata,
        idat_parts=parts,
    )
    out = clean(dressed + trailer, cuts)
    assert out == plain
    assert b"LEAK" not in out and b"tIME" not in out
    assert pixels(out) == pixels(dressed)


def test_a_phone_png_loses_gps() -> None:
    photo = documents.camera_photo(200, 100, fmt="PNG")
    assert documents.has_gps(photo)
    out = clean(photo, [9, 33, 100])
    assert not documents.has_gps(out) and b"eXIf" not in out
    assert pixels(out) == pixels(photo)


GOOD = documents.png(64, 64)


def corrupt_crc(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 8
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def bad_filter() -> bytes:
    rows = bytearray(raw_size(8, 8, 8, 2, False))
    rows[5 * 25] = 7  # the sixth row's filter byte (25 bytes per row)
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def test_pillow_agrees_that_an_unknown_filter_is_damage() -> None:
    with pytest.raises((OSError, SyntaxError)), Image.open(io.BytesIO(bad_filter())) as image:
        image.load()


@pytest.mark.parametrize(
    "raw",
    [
        GOOD[:-12],  # no IEND
        GOOD[: len(GOOD) // 2],  # cut in the image data
        corrupt_crc(GOOD),  # one bit flipped
        SIGNATURE + chunk(b"IDAT", b"x") + chunk(b"IEND", b""),  # data before header
        png(8, 8)[:33] + chunk(b"IDAT", zlib.compress(bytes(10))) + chunk(b"IEND", b""),  # short
        png(8, 8)[:33] + chunk(b"IDAT", zlib.compress(bytes(500))) + chunk(b"IEND", b""),  # long
        png(8, 8)[:33] + chunk(b"IDAT", b"not zlib at all") + chunk(b"IEND", b""),
        png(8, 8)[:33] + chunk(b"ABCD", b"") + png(8, 8)[33:],  # unknown critical chunk
        bad_filter(),  # a row with filter type 7: Pillow refuses it too
    ],
)
def test_truncated_or_damaged_pngs_are_unreadable(raw: bytes) -> None:
    with pytest.raises(Unreadable):
        clean(raw)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(TooManyPixels):
        clean(documents.png_claiming(20_000, 20_000))
