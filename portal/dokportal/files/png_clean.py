"""A PNG checked and cleaned of metadata as it streams, without re-encoding.

A PNG is a signature and a sequence of chunks (length, type, data, CRC). The cleaner keeps
the critical chunks and the ancillary ones that change how the picture looks (transparency,
gamma, chromaticities, sRGB/ICC colour, significant bits, background, pixel size, CICP and
HDR metadata) and drops every other chunk: ``eXIf`` (camera, GPS position), ``tEXt``,
``iTXt`` (XMP), ``zTXt``, ``tIME``, APNG frames and anything unknown, plus any bytes after
``IEND``.

Fully parsed, in constant memory: every chunk's CRC is checked, and the image data is
inflated as it arrives (output counted, then thrown away) and must come to exactly the size
the header announces and end with a valid zlib checksum; each row's filter type must be one
of the five PNG defines (checked for non-interlaced images). Decoding with Pillow instead would
hold the whole picture (up to 160 MB at 40 megapixels) in memory for every upload.
"""

from __future__ import annotations

import struct
import zlib

from dokportal.files.checks import TooManyPixels, Unreadable

SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEEP = frozenset(
    {
        b"IHDR", b"PLTE", b"IDAT", b"IEND",
        b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs",
        b"cICP", b"mDCV", b"cLLI",
    }
)  # fmt: skip
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
# Adam7 passes: (x start, y start, x step, y step).
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
INFLATE_STEP = 4 * 1024 * 1024


def raw_size(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """Bytes the image data inflates to: each row's filter byte plus its packed pixels."""
    bits = depth * CHANNELS[colour]

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if not interlaced:
        return rows(width, height)
    return sum(
        rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in ADAM7
    )


class PngCleaner:
    """Feed raw PNG bytes, get cleaned bytes back; :meth:`close` checks the end."""

    active: tuple[str, ...] = ()  # images carry no active content

    def __init__(self, max_pixels: int) -> None:
        self._max_pixels = max_pixels
        self._pending = bytearray()
        self._state = "signature"
        self._chunk_type = b""
        self._left = 0  # data bytes of the current chunk still to come
        self._keep = False
        self._crc = 0
        self._expected = -1
        self._inflated = 0
        self._inflate = zlib.decompressobj()
        self._seen: set[bytes] = set()
        self._stride = 0  # bytes per row of a plain image, filter byte included

    def feed(self, data: bytes | bytearray) -> bytes:
        self._pending += data
        out: list[bytes] = []
        buf = self._pending
        pos = 0
        while pos < len(buf):
            if self._state == "done":
                pos = len(buf)  # bytes after IEND are not part of the picture
                break
            if self._state == "signature":
                if len(buf) - pos < 8:
                    break
                if buf[pos : pos + 8] != SIGNATURE:
                    raise Unreadable("not a PNG")
                out.append(SIGNATURE)
                pos += 8
                self._state = "head"
            elif self._state == "head":
                if len(buf) - pos < 8:
                    break
                head = bytes(buf[pos : pos + 8])
                pos += 8
                self._begin(head, out)
            elif self._state == "data":
                take = min(self._left, len(buf) - pos)
                piece = bytes(buf[pos : pos + take])
                pos += take
                self._left -= take
                self._crc = zlib.crc32(piece, self._crc)
                if self._keep:
                    out.append(piece)
                if self._chunk_type == b"IDAT":
                    self._inflate_piece(piece)
                elif self._chunk_type == b"IHDR":
                    self._header(piece)
                if self._left == 0:
                    self._state = "crc"
            else:  # "crc"
                if len(buf) - pos < 4:
                    break
                stored = bytes(buf[pos : pos + 4])
                pos += 4
                if struct.unpack(">I", stored)[0] != self._crc:
                    raise Unreadable("a PNG chunk is damaged (CRC)")
                if self._keep:
                    out.append(stored)
                self._state = "done" if self._chunk_type == b"IEND" else "head"
        del buf[:pos]
        return b"".join(out)

    def _begin(self, head: bytes, out: list[bytes]) -> None:
        length, kind = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise Unreadable("a PNG chunk header is damaged")
        if not self._seen and kind != b"IHDR":
            raise Unreadable("the PNG does not start with its header")
        if kind == b"IHDR" and length != 13:
            raise Unreadable("the PNG header has the wrong size")
        if kind == b"IDAT" and b"IHDR" not in self._seen:
            raise Unreadable("the PNG image data comes before its header")
        if kind[0:1].isupper() and kind not in KEEP:
            raise Unreadable("the PNG has a critical chunk we do not know")
        self._seen.add(kind)
        self._chunk_type, self._left = kind, length
        self._keep = kind in KEEP
        self._crc = zlib.crc32(kind)
        if self._keep:
            out.append(head)
        self._state = "data" if length else "crc"

    def _header(self, piece: bytes) -> None:
        # IHDR is 13 bytes; collect it even when it arrives split.
        self._ihdr = getattr(self, "_ihdr", b"") + piece
        if len(self._ihdr) < 13:
            return
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", self._ihdr)
        if width < 1 or height < 1 or colour not in DEPTHS or depth not in DEPTHS[colour]:
            raise Unreadable("the PNG header is not valid")
        if interlace not in (0, 1):
            raise Unreadable("the PNG header is not valid")
        if width * height > self._max_pixels:
            raise TooManyPixels()
        self._expected = raw_size(width, height, depth, colour, interlace == 1)
        # Every row starts with its filter type (0-4); checked for plain (not interlaced)
        # images with one extended slice per inflated piece, so in C.
        if interlace == 0:
            self._stride = 1 + (width * depth * CHANNELS[colour] + 7) // 8

    def _inflate_piece(self, piece: bytes) -> None:
        if self._inflate.eof:
            if piece:
                raise Unreadable("the PNG has data after its image ends")
            return
        data = piece
        try:
            while data and not self._inflate.eof:
                produced = self._inflate.decompress(data, INFLATE_STEP)
                if self._stride and produced:
                    filters = produced[(-self._inflated) % self._stride :: self._stride]
                    if filters and max(filters) > 4:
                        raise Unreadable("a PNG row has an unknown filter type")
                self._inflated += len(produced)
                if self._inflated > self._expected:
                    raise Unreadable("the PNG image data is larger than its header says")
                data = self._inflate.unconsumed_tail
        except zlib.error as error:
            raise Unreadable("the PNG image data is damaged") from error

    def close(self) -> bytes:
        if self._state != "done":
            raise Unreadable("the PNG ends before its end chunk")
        if not self._inflate.eof or self._inflated != self._expected:
            raise Unreadable("the PNG image data is incomplete")
        return b""
