"""A JPEG checked and cleaned of metadata as it streams, without re-encoding.

A JPEG is a sequence of marker segments, then entropy-coded scan data. The cleaner keeps
every segment that decides how the picture looks (quantisation and Huffman tables, frame
and scan headers, restart interval, JFIF ``APP0``, the ICC colour profile in ``APP2``, the
Adobe ``APP14`` that says how CMYK/YCCK colours are stored) and drops everything else:
EXIF (camera, serial number, GPS position), XMP, IPTC/Photoshop, comments, other ``APPn``
and any bytes after the end-of-image marker (a polyglot's payload). Only the orientation
survives from EXIF, as a new 32-byte EXIF block holding that single tag, so a phone photo
taken upright is still shown upright; nothing else from the original block is copied.

The scan data is passed through as it is (found with one regular-expression search per
batch, in C), so cleaning costs almost nothing per byte. The cleaned bytes are also fed to
Pillow's JPEG decoder at 1/8 scale: libjpeg reads every entropy-coded byte (a truncated or
damaged file fails) while the decoded picture stays ~1/64 of the full pixel memory.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PIL import Image

from dokportal.files.checks import TooManyPixels, Unreadable

# Frame headers (start of frame): every SOFn except DHT (C4), JPG (C8) and DAC (CC).
SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
SOS, EOI, SOI, COM = 0xDA, 0xD9, 0xD8, 0xFE
# Standalone markers carry no length: TEM and the restart markers.
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# A marker inside scan data: 0xFF followed by anything but stuffing (00), RSTn or fill (FF).
SCAN_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# The most header bytes (everything before the first scan) held to start the decoder.
MAX_HEADER = 2 * 1024 * 1024
EXIF_ORIENTATION = 0x0112

# Decoding (libjpeg, GIL released) runs beside the hashing and encryption of the same batch
# rather than after it: an upload's batches are decoded one after the other, in order.
_DECODERS = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="jpeg-check")


def _keep_app(marker: int, body: bytes) -> bool:
    """Application segments needed to render the picture correctly."""
    if marker == 0xE0:
        return body.startswith(b"JFIF\x00")
    if marker == 0xE2:
        return body.startswith(b"ICC_PROFILE\x00")
    if marker == 0xEE:
        return body.startswith(b"Adobe")
    return False


def exif_orientation(body: bytes) -> int:
    """The orientation tag (1-8) from an APP1 EXIF body, 1 when missing or unreadable."""
    if not body.startswith(b"Exif\x00\x00"):
        return 1
    tiff = body[6:]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for index in range(min(count, 512)):
            tag, kind, _, value = struct.unpack_from(order + "HHIH", tiff, ifd + 2 + 12 * index)
            if tag == EXIF_ORIENTATION and kind == 3:
                return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1


def orientation_segment(orientation: int) -> bytes:
    """An APP1 EXIF segment that holds the orientation tag and nothing else."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", EXIF_ORIENTATION, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


class JpegCleaner:
    """Feed raw JPEG bytes, get cleaned bytes back; :meth:`close` checks the end."""

    active: tuple[str, ...] = ()  # images carry no active content

    def __init__(self, max_pixels: int) -> None:
        self._max_pixels = max_pixels
        self._pending = bytearray()  # input not yet decided on
        self._state = "start"
        self._frame = False
        self._scans = 0
        self._header = bytearray()  # cleaned bytes up to the first scan, for the decoder
        self._decode = _Decode()
        self._decoding: Future[None] | None = None

    def feed(self, data: bytes | bytearray) -> bytes:
        self._pending += data
        out: list[bytes] = []
        self._run(out)
        cleaned = b"".join(out)
        self._decode_feed(cleaned)
        return cleaned

    def close(self) -> bytes:
        """Anything left, or :class:`Unreadable` when the picture did not end properly."""
        self._wait_for_decoder()
        if self._state != "done":
            raise Unreadable("the JPEG ends before its end-of-image marker")
        self._decode.close()
        return b""

    def _wait_for_decoder(self) -> None:
        """The previous batch's decoding is done; its failure surfaces here."""
        if self._decoding is not None:
            decoding, self._decoding = self._decoding, None
            decoding.result()

    def _decode_feed(self, cleaned: bytes) -> None:
        if not cleaned:
            return
        self._wait_for_decoder()
        if self._decode.started:
            self._decoding = _DECODERS.submit(self._decode.feed, cleaned)
            return
        self._header += cleaned
        if self._scans:
            self._decode.start(bytes(self._header))
            self._header = bytearray()
        elif len(self._header) > MAX_HEADER:
            raise Unreadable("the JPEG header is too long")

    def _run(self, out: list[bytes]) -> None:
        buf = self._pending
        pos = 0
        while True:
            if self._state == "scan":
                found = SCAN_MARKER.search(buf, pos)
                if found is None:
                    # Keep a trailing 0xFF back: its marker byte is in the next batch.
                    end = len(buf) - 1 if buf.endswith(b"\xff") else len(buf)
                    out.append(bytes(buf[pos:end]))
                    pos = end
                    break
                out.append(bytes(buf[pos : found.start()]))
                pos = found.start()
                self._state = "marker"
                continue
            if self._state == "done":
                pos = len(buf)  # bytes after the end of the image are not part of it
                break
            if self._state == "start":
                if len(buf) - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\xff\xd8":
                    raise Unreadable("not a JPEG")
                out.append(b"\xff\xd8")
                pos += 2
                self._state = "marker"
                continue
            # "marker": a marker, possibly after fill bytes, then its segment.
            while (
                pos < len(buf) and buf[pos] == 0xFF and pos + 1 < len(buf) and buf[pos + 1] == 0xFF
            ):
                pos += 1  # fill bytes before a marker carry nothing
            if len(buf) - pos < 2:
                break
            if buf[pos] != 0xFF:
                raise Unreadable("a JPEG segment is not where it should be")
            marker = buf[pos + 1]
            if marker == EOI:
                if not self._scans:
                    raise Unreadable("the JPEG has no picture data")
                out.append(b"\xff\xd9")
                pos += 2
                self._state = "done"
                continue
            if marker in STANDALONE:
                out.append(bytes(buf[pos : pos + 2]))
                pos += 2
                self._state = "scan" if self._scans else "marker"
                continue
            if marker in (SOI, 0x00):
                raise Unreadable("a JPEG marker is out of place")
            if len(buf) - pos < 4:
                break
            (length,) = struct.unpack_from(">H", buf, pos + 2)
            if length < 2:
                raise Unreadable("a JPEG segment has an impossible length")
            if len(buf) - pos < 2 + length:
                break  # the whole segment (at most 64 KiB) is decided at once
            body = bytes(buf[pos + 4 : pos + 2 + length])
            segment = bytes(buf[pos : pos + 2 + length])
            pos += 2 + length
            out.append(self._segment(marker, body, segment))
        del buf[:pos]

    def _segment(self, marker: int, body: bytes, segment: bytes) -> bytes:
        """The bytes to keep for one marker segment (maybe none)."""
        if marker in SOF_MARKERS:
            if len(body) < 5:
                raise Unreadable("the JPEG frame header is too short")
            height, width = struct.unpack_from(">HH", body, 1)
            if width < 1 or height < 1:
                # A height of 0 (defined later by DNL) is legal but nobody writes it.
                raise Unreadable("the JPEG has no size")
            if width * height > self._max_pixels:
                raise TooManyPixels()
            self._frame = True
            return segment
        if marker == SOS:
            if not self._frame:
                raise Unreadable("the JPEG scan comes before its frame")
            self._scans += 1
            self._state = "scan"
            return segment
        if 0xE0 <= marker <= 0xEF:
            if marker == 0xE1:
                orientation = exif_orientation(body)
                return orientation_segment(orientation) if orientation != 1 else b""
            return segment if _keep_app(marker, body) else b""
        if marker == COM:
            return b""
        return segment


class _Decode:
    """Pillow's JPEG decoder fed piece by piece, at 1/8 scale (libjpeg's DCT scaling)."""

    def __init__(self) -> None:
        self.started = False
        self._finished = False
        self._decoder: Any = None
        self._image: Image.Image | None = None
        self._data = b""

    def start(self, header: bytes) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                image = Image.open(io.BytesIO(header), formats=("JPEG",))
                width, height = image.size
                image.draft(None, ((width + 7) // 8, (height + 7) // 8))
                image.load_prepare()
                tile = image.tile[0]
                # What ImageFile.Parser does, but after draft(): the public Parser would
                # decode at full size (120 MB for 40 megapixels).
                decoder = Image._getdecoder(image.mode, tile[0], tile[3], image.decoderconfig)
                decoder.setimage(image.im, tile[1])
            except Image.DecompressionBombError as error:
                raise TooManyPixels() from error
            except (OSError, ValueError, SyntaxError, IndexError) as error:
                raise Unreadable("Pillow cannot read the JPEG header") from error
        image.tile = []
        self._image, self._decoder, self.started = image, decoder, True
        self.feed(header[tile[2] :])

    def feed(self, data: bytes) -> None:
        if self._finished:
            return
        self._data = self._data + data if self._data else data
        consumed, code = self._decoder.decode(self._data)
        if consumed < 0:
            self._finished = True
            self._data = b""
            if code < 0:
                raise Unreadable(f"Pillow cannot decode the JPEG ({code})")
            return
        self._data = self._data[consumed:]

    def close(self) -> None:
        if not self.started:
            raise Unreadable("the JPEG has no picture data")
        if not self._finished:
            self.feed(b"")
        if not self._finished:
            raise Unreadable("the JPEG picture data ends too early")
        if self._image is not None:
            self._image.close()
