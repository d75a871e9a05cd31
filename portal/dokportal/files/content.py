"""The content check for each accepted type: every upload is fully parsed before it is kept.

A check is fed the plaintext batch by batch in the ingest worker thread and returns the
bytes to store (for photos: without metadata); ``close`` gives its verdict on the whole
file. Both raise :class:`~dokportal.files.checks.Unreadable` for a truncated or damaged file.
PDFs pass here unchanged: qpdf needs random access, so they are checked from the stored
blob once it is committed and before its row is written (files/pdf_check.py).
"""

from __future__ import annotations

from typing import Protocol

from dokportal.files.jpeg_clean import JpegCleaner
from dokportal.files.png_clean import PngCleaner


class Cleaner(Protocol):
    """A streaming check of one type; :attr:`active` stays empty (PDFs: ``inspect_stored_pdf``)."""

    active: tuple[str, ...]

    def feed(self, data: bytes | bytearray) -> bytes | bytearray: ...

    def close(self) -> bytes: ...


class Unchanged:
    """Passes the bytes on: the type's check runs on the stored blob instead."""

    active: tuple[str, ...] = ()

    def feed(self, data: bytes | bytearray) -> bytes | bytearray:
        return data

    def close(self) -> bytes:
        return b""


def cleaner_for(content_type: str, *, max_pixels: int) -> Cleaner:
    if content_type == "image/jpeg":
        return JpegCleaner(max_pixels)
    if content_type == "image/png":
        return PngCleaner(max_pixels)
    if content_type == "application/pdf":
        return Unchanged()
    raise ValueError(f"no content check for {content_type}")
