"""One PDF from re-encoded JPEG pages, written as a stream of chunks.

The JPEG bytes go into the PDF unchanged (``/DCTDecode``), so building the PDF costs no
decoding and no second quality loss, and its bytes can be fed into the ingest pipeline as
they are produced. Each page has the photo's aspect ratio with the long side of an A4 page.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dokportal.files.pages import Page

A4_LONG_SIDE_PT = 842.0
HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
# Bytes the PDF adds around the JPEG data per page and once, with room to spare: an upper
# bound used to refuse a too-large document before anything is stored.
OVERHEAD_PER_PAGE = 600
OVERHEAD = 400


def pdf_size_bound(pages: Sequence[Page]) -> int:
    return OVERHEAD + sum(len(page.jpeg) + OVERHEAD_PER_PAGE for page in pages)


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def pdf_chunks(pages: Sequence[Page]) -> Iterator[bytes]:
    """Yield the PDF's bytes. Object numbers: 1 catalog, 2 page tree, then 3 per page."""
    if not pages:
        raise ValueError("a PDF needs at least one page")
    offsets: list[int] = []
    position = 0

    def emit(data: bytes) -> bytes:
        nonlocal position
        position += len(data)
        return data

    def start_object(number: int) -> bytes:
        offsets.append(position)
        assert len(offsets) == number
        return emit(f"{number} 0 obj\n".encode())

    yield emit(HEADER)
    yield start_object(1)
    yield emit(b"<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
    kids = " ".join(f"{3 + 3 * index} 0 R" for index in range(len(pages)))
    yield start_object(2)
    yield emit(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>\nendobj\n".encode())
    for index, page in enumerate(pages):
        page_no, content_no, image_no = 3 + 3 * index, 4 + 3 * index, 5 + 3 * index
        scale = A4_LONG_SIDE_PT / max(page.width, page.height)
        width, height = _number(page.width * scale), _number(page.height * scale)
        yield start_object(page_no)
        yield emit(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
                f"/Resources << /XObject << /Im0 {image_no} 0 R >> >> "
                f"/Contents {content_no} 0 R >>\nendobj\n"
            ).encode()
        )
        drawing = f"q {width} 0 0 {height} 0 0 cm /Im0 Do Q".encode()
        yield start_object(content_no)
        yield emit(
            b"<< /Length %d >>\nstream\n" % len(drawing) + drawing + b"\nendstream\nendobj\n"
        )
        colours = "/DeviceGray" if page.gray else "/DeviceRGB"
        yield start_object(image_no)
        yield emit(
            (
                f"<< /Type /XObject /Subtype /Image /Width {page.width} /Height {page.height} "
                f"/ColorSpace {colours} /BitsPerComponent 8 /Filter /DCTDecode "
                f"/Length {len(page.jpeg)} >>\nstream\n"
            ).encode()
        )
        yield emit(page.jpeg)
        yield emit(b"\nendstream\nendobj\n")
    xref_at = position
    rows = "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    yield emit(
        (
            f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n{rows}"
            f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref_at}\n%%EOF\n"
        ).encode()
    )
