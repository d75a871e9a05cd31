"""'One document': photos of a multi-page letter become one PDF, built on the server.

The upload otherwise streams every file straight into the ingest pipeline. Combining needs
all pages before the PDF can be written, so the pages are held in memory — bounded: one raw
photo at a time (at most the per-file limit) plus the re-encoded pages (a few hundred KB
each, at most ``max_pages``). Nothing of it touches the disk in plaintext; the finished PDF
goes through the same encrypting ingest as any other file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dokportal.files import FileIngest, Ingested, sniffing
from dokportal.files.form_reader import FileSink
from dokportal.files.pages import Page, normalise_page
from dokportal.files.pdf_pages import pdf_chunks, pdf_size_bound
from dokportal.lib.errors import BadRequest, TooLarge

SCAN_NAME = "scan.pdf"
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})
# Decoding a camera photo takes a core and tens of MB for a moment: at most two at a time.
_DECODERS = asyncio.Semaphore(2)


Sink = FileSink
"""Where one file part of the form goes: the ingest pipeline or the scan."""


@dataclass(frozen=True)
class ScanLimits:
    max_pages: int
    max_page_bytes: int
    max_page_words: str
    max_pixels: int


@dataclass
class Scan:
    """The pages of one form, in the order they arrived, and where the PDF goes in the list."""

    limits: ScanLimits
    pages: list[Page] = field(default_factory=list)
    position: int | None = None
    _open: int = 0

    def page(self, name: str, position: int) -> PageSink:
        if self.position is None:
            self.position = position
        if len(self.pages) + self._open >= self.limits.max_pages:
            raise BadRequest(
                "Too many pages. One document can have at most %(max)s pages.",
                max=self.limits.max_pages,
            ).at("files")
        self._open += 1
        return PageSink(self, name)

    async def add(self, raw: bytes, name: str) -> None:
        async with _DECODERS:
            page = await asyncio.to_thread(
                normalise_page, raw, name=name, max_pixels=self.limits.max_pixels
            )
        self.pages.append(page)

    async def store(self, ingest: FileIngest) -> Ingested:
        """Write the PDF into ``ingest``; refuses before writing when it cannot fit."""
        if pdf_size_bound(self.pages) > self.limits.max_page_bytes:
            raise TooLarge(
                "Together the pages are larger than %(limit)s. Please send fewer pages at once.",
                limit=self.limits.max_page_words,
            )
        try:
            for chunk in self.chunks():
                await ingest.feed(chunk)
            return await ingest.finish()
        except BaseException:
            await ingest.abort()
            raise

    def chunks(self) -> Iterator[bytes]:
        return pdf_chunks(self.pages)


class PageSink:
    """Collects one photo's bytes (bounded), then hands them to the scan."""

    def __init__(self, scan: Scan, name: str) -> None:
        self._scan = scan
        self._name = name
        self._data = bytearray()

    async def feed(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > self._scan.limits.max_page_bytes:
            raise TooLarge(
                "The file %(name)s is too large. Each file may have at most %(limit)s.",
                name=self._name,
                limit=self._scan.limits.max_page_words,
            )

    async def finish(self) -> None:
        if not self._data:
            raise BadRequest("The file %(name)s is empty.", name=self._name)
        raw, self._data = bytes(self._data), bytearray()
        self._scan._open -= 1
        await self._scan.add(raw, self._name)

    async def abort(self) -> None:
        self._data = bytearray()


class PhotoOrFile:
    """With 'one document' ticked: photos join the scan, anything else stays a file.

    Which one is decided from the first bytes, like every type decision in the portal.
    """

    def __init__(self, page: Callable[[], PageSink], file: Callable[[], FileIngest]) -> None:
        self._page = page
        self._file = file
        self._head = b""
        self._target: Sink | None = None

    async def feed(self, chunk: bytes) -> None:
        if self._target is None:
            self._head += chunk
            if len(self._head) < sniffing.SNIFF_BYTES:
                return
            await self._decide()
            return
        await self._target.feed(chunk)

    async def _decide(self) -> None:
        is_photo = sniffing.sniff(self._head) in PHOTO_TYPES
        self._target = self._page() if is_photo else self._file()
        head, self._head = self._head, b""
        await self._target.feed(head)

    async def finish(self) -> Ingested | None:
        if self._target is None:
            await self._decide()
        assert self._target is not None
        return await self._target.finish()

    async def abort(self) -> None:
        if self._target is not None:
            await self._target.abort()
