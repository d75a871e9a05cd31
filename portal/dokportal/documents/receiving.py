"""Turning a streamed upload form into stored, encrypted files — or into nothing at all.

The generic part (CSRF first, field limits, clean-up on failure) is the one streaming form
reader, :mod:`dokportal.files.form_reader`; this module says what the upload form's fields
mean and where its file parts go.

Photos become pages of one PDF (:mod:`dokportal.documents.scan`) when they arrive as
``pages`` (the scan widget) or as ``files`` after a ticked ``combine`` box. The box is placed
before the file inputs in the page, so browsers send it first and the stream can be routed
without buffering.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from dokportal.documents.scan import SCAN_NAME, PhotoOrFile, Scan, ScanLimits, Sink
from dokportal.files import FileIngest, Ingested
from dokportal.files.form_reader import FieldLimits, discard, read_form
from dokportal.lib.errors import BadRequest
from dokportal.lib.multipart import Event
from dokportal.storage import BlobStore

ALLOWED_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
LIMITS = FieldLimits(max_fields=16, max_field_bytes=64 * 1024)
FILE_FIELDS = ("files", "pages")


@dataclass
class UploadForm:
    category: str = ""
    message: str = ""
    combine: bool = False
    files: list[Ingested] = field(default_factory=list)


@dataclass
class UploadRules:
    max_files: int
    max_file_bytes: int
    max_file_words: str
    max_message_chars: int
    categories: list[str]
    max_pages: int
    max_pixels: int


async def receive_form(
    events: AsyncIterator[Event],
    *,
    csrf_ok: Callable[[str], bool],
    rules: UploadRules,
    new_ingest: Callable[[str], FileIngest],
    store: BlobStore,
) -> UploadForm:
    """Read the upload form; either all its files are stored and returned, or none is."""
    handler = _UploadHandler(rules, new_ingest)
    files = await read_form(events, csrf_ok=csrf_ok, handler=handler, limits=LIMITS, store=store)
    try:
        handler.form.files = files
        await handler.complete()
        return handler.form
    except BaseException:
        await discard(store, files)
        raise


class _UploadHandler:
    """The upload form's fields (category, message, combine) and its file routing."""

    def __init__(self, rules: UploadRules, new_ingest: Callable[[str], FileIngest]) -> None:
        self.rules = rules
        self.new_ingest = new_ingest
        self.form = UploadForm()
        self.parts = 0
        self.scan = Scan(
            ScanLimits(
                max_pages=rules.max_pages,
                max_page_bytes=rules.max_file_bytes,
                max_page_words=rules.max_file_words,
                max_pixels=rules.max_pixels,
            )
        )

    def open_file(self, name: str, filename: str, stored: Sequence[Ingested]) -> Sink | None:
        """Route one file part: a page of the scan, a file of its own, or decided by content."""
        if name not in FILE_FIELDS:
            return None
        self.parts += 1
        position = len(stored)
        if name == "pages":
            return self.scan.page(filename, position)

        def file() -> FileIngest:
            if len(stored) + (1 if self.scan.position is not None else 0) >= self.rules.max_files:
                raise BadRequest(
                    "Too many files. You can send at most %(max)s files at once.",
                    max=self.rules.max_files,
                ).at("files")
            return self.new_ingest(filename)

        if self.form.combine:
            return PhotoOrFile(lambda: self.scan.page(filename, position), file)
        return file()

    def take_field(self, name: str, value: str) -> None:
        if name == "category":
            if value not in self.rules.categories:
                raise BadRequest("Please choose what kind of document you are sending.").at(
                    "category"
                )
            self.form.category = value
        elif name == "message":
            value = value.replace("\r\n", "\n").strip()
            if len(value) > self.rules.max_message_chars:
                raise BadRequest(
                    "The message is too long. Please write at most %(max)s characters.",
                    max=self.rules.max_message_chars,
                ).at("message")
            self.form.message = value
        elif name == "combine":
            self.form.combine = value == "1"

    async def complete(self) -> None:
        """After the last part: required fields, then the scan's PDF in its place."""
        if not self.parts:
            raise BadRequest("Please choose at least one file.").at("files")
        if not self.form.category:
            raise BadRequest("Please choose what kind of document you are sending.").at("category")
        if self.scan.pages:
            assert self.scan.position is not None
            scanned = await self.scan.store(self.new_ingest(SCAN_NAME))
            self.form.files.insert(self.scan.position, scanned)
