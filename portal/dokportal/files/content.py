"""The content check for each accepted type: every upload is fully parsed before it is kept.

A check is fed the plaintext batch by batch in the ingest worker thread and returns the
bytes to store (for photos: without metadata); ``close`` gives its verdict on the whole
file. Both raise :class:`~dokportal.files.checks.Unreadable` for a truncated or damaged file.
"""

from __future__ import annotations

from typing import Protocol

from dokportal.files.jpeg_clean import JpegCleaner
from dokportal.files.pdf_check import PdfCollector
from dokportal.files.png_clean import PngCleaner


class Cleaner(Protocol):
    active: tuple[str, ...]

    def feed(self, data: bytes | bytearray) -> bytes | bytearray: ...

    def close(self) -> bytes: ...


def cleaner_for(content_type: str, *, max_pixels: int, max_bytes: int) -> Cleaner:
    if content_type == "image/jpeg":
        return JpegCleaner(max_pixels)
    if content_type == "image/png":
        return PngCleaner(max_pixels)
    if content_type == "application/pdf":
        return PdfCollector(max_bytes)
    raise ValueError(f"no content check for {content_type}")
