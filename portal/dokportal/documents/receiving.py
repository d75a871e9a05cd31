"""Turning a streamed upload form into stored, encrypted files — or into nothing at all.

Either every file of a submission is durably stored and returned, or every blob written so
far is removed again before the error propagates.

Photos become pages of one PDF (:mod:`dokportal.documents.scan`) when they arrive as
``pages`` (the scan widget) or as ``files`` after a ticked ``combine`` box. The box is placed
before the file inputs in the page, so browsers send it first and the stream can be routed
without buffering.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from dokportal.documents.multipart import Event, PartData, PartEnd, PartStart
from dokportal.documents.scan import SCAN_NAME, PhotoOrFile, Scan, ScanLimits, Sink
from dokportal.files import FileIngest, Ingested
from dokportal.lib.errors import BadRequest, Forbidden
from dokportal.storage import BlobStore

ALLOWED_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 16


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
    """Consume part events; the CSRF field must come first, before any file is stored."""
    form = UploadForm()
    scan = Scan(
        ScanLimits(
            max_pages=rules.max_pages,
            max_page_bytes=rules.max_file_bytes,
            max_page_words=rules.max_file_words,
            max_pixels=rules.max_pixels,
        )
    )
    current: Sink | None = None
    parts = 0
    field_name: str | None = None
    field_value = bytearray()
    seen_fields = 0
    csrf_checked = False
    try:
        async for event in events:
            if isinstance(event, PartStart):
                if not csrf_checked and event.name != "_csrf":
                    raise Forbidden("The form has expired. Please reload the page and try again.")
                if event.filename is not None and event.name in ("files", "pages"):
                    if event.filename == "":
                        field_name = "_ignored_empty_file"
                        continue
                    current = _sink(event.name, event.filename, form, scan, new_ingest, rules)
                    parts += 1
                    field_name = None
                else:
                    seen_fields += 1
                    if seen_fields > MAX_FIELDS:
                        raise BadRequest(
                            "The form data could not be read. Please send the form again."
                        )
                    field_name = event.name
                    field_value.clear()
            elif isinstance(event, PartData):
                if current is not None:
                    await current.feed(event.data)
                elif field_name is not None:
                    field_value += event.data
                    if len(field_value) > MAX_FIELD_BYTES:
                        raise BadRequest("The message is too long.").at("message")
            elif isinstance(event, PartEnd):
                if current is not None:
                    stored = await current.finish()
                    current = None
                    if stored is not None:
                        form.files.append(stored)
                elif field_name is not None:
                    csrf_checked = _take_field(
                        form, field_name, bytes(field_value), csrf_ok, rules, csrf_checked
                    )
                    field_name = None
        if not parts:
            raise BadRequest("Please choose at least one file.").at("files")
        if not form.category:
            raise BadRequest("Please choose what kind of document you are sending.").at("category")
        if scan.pages:
            assert scan.position is not None
            form.files.insert(scan.position, await scan.store(new_ingest(SCAN_NAME)))
        return form
    except BaseException:
        if current is not None:
            await current.abort()
        for stored in form.files:
            await store.delete(stored.blob_id)
        raise


def _sink(
    name: str,
    filename: str,
    form: UploadForm,
    scan: Scan,
    new_ingest: Callable[[str], FileIngest],
    rules: UploadRules,
) -> Sink:
    """Route one file part: a page of the scan, a file of its own, or decided by content."""

    def file() -> FileIngest:
        if len(form.files) + (1 if scan.position is not None else 0) >= rules.max_files:
            raise BadRequest(
                "Too many files. You can send at most %(max)s files at once.",
                max=rules.max_files,
            ).at("files")
        return new_ingest(filename)

    position = len(form.files)
    if name == "pages":
        return scan.page(filename, position)
    if form.combine:
        return PhotoOrFile(lambda: scan.page(filename, position), file)
    return file()


def _take_field(
    form: UploadForm,
    name: str,
    raw: bytes,
    csrf_ok: Callable[[str], bool],
    rules: UploadRules,
    csrf_checked: bool,
) -> bool:
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("The form data could not be read. Please send the form again.") from error
    if name == "_csrf":
        if not csrf_ok(value):
            raise Forbidden("The form has expired. Please reload the page and try again.")
        return True
    if name == "category":
        if value not in rules.categories:
            raise BadRequest("Please choose what kind of document you are sending.").at("category")
        form.category = value
    elif name == "message":
        value = value.replace("\r\n", "\n").strip()
        if len(value) > rules.max_message_chars:
            raise BadRequest(
                "The message is too long. Please write at most %(max)s characters.",
                max=rules.max_message_chars,
            ).at("message")
        form.message = value
    elif name == "combine":
        form.combine = value == "1"
    return csrf_checked
