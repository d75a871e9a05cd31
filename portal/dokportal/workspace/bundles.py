"""Several files of a submission as one download: a ZIP (streamed) or one PDF (merged).

The ZIP is written through ``zipfile`` into a small buffer that is drained after every
chunk, so files are never held whole in memory nor spooled to disk in plaintext. Merging to
one PDF needs the documents in memory (pypdf parses them), so it has a size cap.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from PIL import Image
from pypdf import PdfWriter
from pypdf.errors import PyPdfError

from dokportal.files.names import with_type_extension
from dokportal.files.tables import StoredFile
from dokportal.lib.errors import TooLarge, UnsupportedType

# Merging parses everything in memory: keep it to what a caseworker prints.
MAX_MERGE_BYTES = 100 * 1024 * 1024
MAX_IMAGE_PIXELS = 60_000_000

Opener = Callable[[StoredFile], AsyncIterator[bytes]]


class _Drain(io.RawIOBase):
    """A write-only, unseekable sink; zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)

    def take(self) -> bytes:
        data, self.buffer = bytes(self.buffer), bytearray()
        return data


@dataclass(frozen=True)
class Member:
    name: str
    stored: StoredFile


def unique_names(files: list[StoredFile]) -> list[Member]:
    """Numbered names (``01-scan.pdf``) so duplicates cannot overwrite each other."""
    width = max(2, len(str(len(files))))
    return [
        Member(name=f"{index:0{width}d}-{_name(stored)}", stored=stored)
        for index, stored in enumerate(files, start=1)
    ]


def _name(stored: StoredFile) -> str:
    return with_type_extension(stored.display_name, stored.content_type)


async def zip_stream(
    members: list[Member], open_file: Opener, extra: dict[str, bytes] | None = None
) -> AsyncIterator[bytes]:
    sink = _Drain()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
            yield sink.take()
        for member in members:
            info = zipfile.ZipInfo(member.name)
            info.file_size = member.stored.size
            with archive.open(info, mode="w", force_zip64=member.stored.size > 2**31) as handle:
                async for chunk in open_file(member.stored):
                    handle.write(chunk)
                    if len(sink.buffer) >= 64 * 1024:
                        yield sink.take()
            yield sink.take()
    yield sink.take()


async def merged_pdf(files: list[StoredFile], open_file: Opener) -> bytes:
    """Images become PDF pages, PDFs are appended page by page, in the customer's order."""
    total = sum(stored.size for stored in files)
    if total > MAX_MERGE_BYTES:
        raise TooLarge("These files are too large to merge into one PDF. Please use the ZIP.")
    writer = PdfWriter()
    for stored in files:
        data = bytearray()
        async for chunk in open_file(stored):
            data += chunk
        try:
            if stored.content_type == "application/pdf":
                writer.append(io.BytesIO(bytes(data)))
            else:
                writer.append(io.BytesIO(_image_as_pdf(bytes(data))))
        except (PyPdfError, OSError, ValueError, Image.DecompressionBombError) as error:
            raise UnsupportedType(
                "The file %(name)s could not be converted. Please download it on its own.",
                name=stored.display_name,
            ) from error
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _image_as_pdf(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ValueError("image too large")
        page = image.convert("RGB")
        buffer = io.BytesIO()
        page.save(buffer, format="PDF", resolution=150)
        return buffer.getvalue()
