"""The streaming JPEG cleaner: metadata segments dropped, the picture's bytes untouched,
whatever the segment layout and however the stream is cut into pieces (hypothesis)."""

from __future__ import annotations

import io
import itertools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image

from dokportal.files.checks import TooManyPixels, Unreadable
from dokportal.files.jpeg_clean import JpegCleaner, exif_orientation
from tests.support import documents

LIMIT = 40_000_000


def segments(jpeg: bytes) -> tuple[list[bytes], bytes]:
    """The marker segments before the first scan, and the rest (scan data to EOI)."""
    assert jpeg[:2] == b"\xff\xd8"
    pos, found = 2, list[bytes]()
    while True:
        marker = jpeg[pos + 1]
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        if marker == 0xDA:
            return found, jpeg[pos:]
        found.append(jpeg[pos : pos + 2 + length])
        pos += 2 + length


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def clean(data: bytes, cuts: list[int] | None = None) -> bytes:
    cleaner = JpegCleaner(LIMIT)
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts or [])})
    out = b"".join(cleaner.feed(data[a:b]) for a, b in itertools.pairwise(points))
    return out + cleaner.close()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.tobytes()


BASE = documents.jpeg(40, 30)
BASE_SEGMENTS, BASE_SCAN = segments(BASE)
PROGRESSIVE = io.BytesIO()
Image.new("RGB", (64, 48), (10, 200, 30)).save(PROGRESSIVE, "JPEG", progressive=True)

# (segment, kept?) pairs; the payload tags make leaks easy to find.
DROPPED = st.sampled_from(
    [
        segment(0xE1, b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00LEAK-EXIF"),
        segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>LEAK-XMP</x:xmpmeta>"),
        segment(0xED, b"Photoshop 3.0\x008BIM LEAK-IPTC"),
        segment(0xFE, b"LEAK-COMMENT"),
        segment(0xE5, b"LEAK-APP5"),
        segment(0xEF, b"LEAK-APP15"),
        segment(0xE0, b"JFXX\x00LEAK-THUMBNAIL"),
    ]
)
KEPT = st.sampled_from(
    [
        segment(0xE2, b"ICC_PROFILE\x00\x01\x01kept-colour-profile"),
        segment(0xEE, b"Adobe\x00d\x00\x00\x00\x00\x01"),
    ]
)


@settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    extra=st.lists(st.tuples(st.booleans(), DROPPED | KEPT, st.integers(0, 20)), max_size=8),
    fill=st.lists(st.booleans(), min_size=12, max_size=12),
    trailer=st.binary(max_size=64),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_random_segment_layouts_lose_exactly_their_metadata(
    extra: list[tuple[bool, bytes, int]], fill: list[bool], trailer: bytes, cuts: list[int]
) -> None:
    layout = list(BASE_SEGMENTS)
    for _, seg, where in extra:
        layout.insert(where % (len(layout) + 1), seg)
    # Fill bytes (0xFF) may come before any marker; they carry nothing.
    body = b"".join((b"\xff" if fill[i % len(fill)] else b"") + seg for i, seg in enumerate(layout))
    raw = b"\xff\xd8" + body + BASE_SCAN + trailer

    out = clean(raw, cuts)

    kept = [seg for seg in layout if b"LEAK" not in seg]
    assert out == b"\xff\xd8" + b"".join(kept) + BASE_SCAN  # nothing else changed
    assert b"LEAK" not in out
    assert pixels(out) == pixels(BASE)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(cuts=st.lists(st.integers(0, 100_000), max_size=20))
def test_a_phone_photo_loses_gps_keeps_orientation_and_pixels(cuts: list[int]) -> None:
    photo = documents.camera_photo(120, 90, orientation=6)
    out = clean(photo, cuts)
    with Image.open(io.BytesIO(out)) as image:
        exif = image.getexif()
        assert dict(exif) == {ExifTags.Base.Orientation: 6}  # nothing but the orientation
        assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
        assert "comment" not in image.info
    assert b"Dokphone" not in out and b"secret comment" not in out
    assert pixels(out) == pixels(photo)


def test_an_upright_photo_keeps_no_exif_at_all() -> None:
    out = clean(documents.camera_photo(120, 90))
    assert b"Exif" not in out and not documents.has_gps(out)


def test_progressive_jpeg_with_many_scans_is_passed_through() -> None:
    data = PROGRESSIVE.getvalue()
    assert clean(data, [7, 300, 301, 600]) == data


def test_exif_orientation_parsing_survives_garbage() -> None:
    assert exif_orientation(b"Exif\x00\x00II*\x00\xff\xff\xff\xff") == 1
    assert exif_orientation(b"Exif\x00\x00") == 1
    assert exif_orientation(b"nonsense") == 1


@pytest.mark.parametrize(
    "raw",
    [
        BASE[: len(BASE) // 2],  # cut inside the scan
        BASE[:-2],  # no end-of-image marker
        BASE[:20],  # cut inside the header
        b"\xff\xd8" + b"".join(BASE_SEGMENTS) + b"\xff\xd9",  # no picture data
        b"\xff\xd8\xff\xdb\x00\x01",  # impossible segment length
        b"\xff\xd8" + BASE_SEGMENTS[0] + BASE_SCAN,  # scan without frame header
    ],
)
def test_truncated_or_malformed_jpegs_are_unreadable(raw: bytes) -> None:
    with pytest.raises(Unreadable):
        clean(raw)


def test_what_libjpeg_refuses_is_unreadable() -> None:
    # The frame names a quantisation table that was never defined: structure intact,
    # picture undecodable. (Damaged scan data libjpeg only warns about and renders grey.)
    layout = []
    for seg in BASE_SEGMENTS:
        if seg[1] == 0xC0:
            seg = seg[:12] + b"\x03" + seg[13:]  # first component: table 3
        layout.append(seg)
    with pytest.raises(Unreadable):
        clean(b"\xff\xd8" + b"".join(layout) + BASE_SCAN)


def test_the_pixel_limit_is_checked_from_the_frame_header() -> None:
    cleaner = JpegCleaner(40 * 30 - 1)
    with pytest.raises(TooManyPixels):
        cleaner.feed(BASE)
