"""Small real documents made on the fly: a JPEG photo, a PNG and a PDF."""

from __future__ import annotations

import io
import os
import struct
import zlib

from fpdf import FPDF
from PIL import ExifTags, Image


def jpeg(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def png(width: int = 32, height: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf(text: str = "Kontoauszug November") -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=12)
    document.cell(text=text)
    return bytes(document.output())


GPS_LATITUDE = (49.0, 41.0, 12.5)


def camera_photo(
    width: int = 1200,
    height: int = 900,
    color: tuple[int, int, int] = (200, 30, 30),
    *,
    orientation: int | None = None,
    fmt: str = "JPEG",
) -> bytes:
    """A photo as a phone writes it: EXIF with camera model and GPS position, a comment."""
    image = Image.new("RGB", (width, height), color)
    exif = Image.Exif()
    exif[ExifTags.Base.Model] = "Dokphone 12"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: GPS_LATITUDE,
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (8.0, 37.0, 1.0),
    }
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=85, exif=exif, comment=b"secret comment")
    else:
        image.save(buffer, format="PNG", exif=exif)
    return buffer.getvalue()


def has_gps(jpeg_or_png: bytes) -> bool:
    with Image.open(io.BytesIO(jpeg_or_png)) as image:
        return bool(image.getexif().get_ifd(ExifTags.IFD.GPSInfo))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels but that carries almost no data:
    the shape of a decompression bomb, cheap to make."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def padded_pdf_frame(size: int) -> tuple[bytes, int, bytes]:
    """Head, stream length and tail of a valid one-page PDF of exactly ``size`` bytes whose
    one stream (head + ``length`` bytes + tail) may hold anything: big test and bench PDFs
    written without holding them in memory."""
    head = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]

    def build(length: int) -> tuple[bytes, bytes]:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(head, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        offsets.append(len(out))
        out += b"4 0 obj\n<< /Length %010d >>\nstream\n" % length
        tail = bytearray(b"\nendstream\nendobj\n")
        xref = len(out) + length + len(tail)
        tail += b"xref\n0 5\n0000000000 65535 f \n"
        tail += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        tail += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%010d\n%%%%EOF\n" % xref
        return bytes(out), bytes(tail)

    overhead = sum(map(len, build(0)))
    if size < overhead:
        raise ValueError(f"a padded PDF has at least {overhead} bytes")
    start, end = build(size - overhead)
    return start, size - overhead, end


def padded_pdf(size: int, fill: bytes | None = None) -> bytes:
    """A valid one-page PDF of exactly ``size`` bytes: the rest is one stream of random
    (incompressible) bytes, or ``fill`` repeated. For tests that need big real PDFs."""
    start, length, end = padded_pdf_frame(size)
    data = os.urandom(length) if fill is None else (fill * (length // len(fill) + 1))[:length]
    return start + data + end
