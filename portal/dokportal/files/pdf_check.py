"""A PDF opened with pikepdf (qpdf) before it is accepted, and searched for active content.

qpdf needs random access to the whole file (the cross-reference table is at its end). An
upload is therefore checked from its stored, encrypted blob, right after the blob is
committed and before any row refers to it (see :func:`inspect_stored_pdf`): qpdf seeks and
reads through :class:`~dokportal.crypto.seekable.SegmentReader`, which fetches and
authenticates one 64 KiB segment per range read. The whole file is never in memory, as the
design requires (before, collecting the plaintext cost up to the upload limit per upload).
The stored bytes are the uploaded ones.

Active content is what a PDF reader may run or open on its own: JavaScript, an action when
the document opens (``/OpenAction``) or when a page, field or annotation is touched
(``/AA``), ``/Launch`` (start a program), embedded files, XFA forms, form submission and
rich media. Such a PDF is accepted but flagged; staff get a rendered safe copy by default.
"""

from __future__ import annotations

import io
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pikepdf

from dokportal.crypto.seekable import SegmentReader
from dokportal.files.checks import Unreadable
from dokportal.storage import BlobStore

# Acrobat's own rule: the end-of-file marker must be within the last 1024 bytes.
EOF_WINDOW = 1024
MAX_DEPTH = 32
CHECKS_AT_ONCE = 4
"""Stored PDFs checked at the same time per process: each holds a worker thread and qpdf's
objects; more uploads ending together wait for a turn."""
READ_BUFFER = 64 * 1024

_CHECKS: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar("pdf_checks")

ACTIONS = {
    "/JavaScript": "javascript",
    "/Launch": "launch",
    "/SubmitForm": "submit-form",
    "/ImportData": "import-data",
    "/GoToE": "embedded-files",
    "/RichMediaExecute": "rich-media",
}


async def inspect_stored_pdf(
    store: BlobStore, blob_id: str, *, data_key: bytes, aad: bytes, size: int
) -> tuple[str, ...]:
    """:func:`inspect_pdf` on a committed blob of ``size`` plaintext bytes, read in place.

    Runs in a worker thread of its own limiter, not anyio's default one: its range reads go
    back to the event loop and from there to the store's threads, which must never wait
    for a token held by the checks themselves. A blob that does not decrypt raises
    :class:`~dokportal.crypto.errors.DecryptionError` (and a store failure its own error),
    never :class:`Unreadable`: that is a broken store, not a broken PDF.
    """

    def fetch(start: int, length: int) -> bytes:
        return anyio.from_thread.run(store.read_range, blob_id, start, length)

    def check() -> tuple[str, ...]:
        reader = SegmentReader(data_key, aad, size, fetch)
        try:
            found = inspect_pdf(reader)
        except Unreadable:
            if reader.failure is not None:
                raise reader.failure from None
            raise
        if reader.failure is not None:  # qpdf recovered around a bad segment: still refuse
            raise reader.failure
        return found

    return await anyio.to_thread.run_sync(check, limiter=_limiter())


def _limiter() -> anyio.CapacityLimiter:
    try:
        return _CHECKS.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(CHECKS_AT_ONCE)
        _CHECKS.set(limiter)
        return limiter


def inspect_pdf(source: bytes | bytearray | io.RawIOBase) -> tuple[str, ...]:
    """The kinds of active content in ``source`` (sorted); :class:`Unreadable` if damaged.

    ``source`` is the PDF's bytes or a seekable raw stream of them (read, never copied whole).
    """
    # Bytes come from tests and small in-memory callers; uploads are read from the blob.
    raw = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    stream = io.BufferedReader(raw, READ_BUFFER)
    size = stream.seek(0, io.SEEK_END)
    stream.seek(max(0, size - EOF_WINDOW))
    if b"%%EOF" not in stream.read(EOF_WINDOW):
        raise Unreadable("the PDF has no end (truncated)")
    stream.seek(0)
    try:
        with pikepdf.open(stream, access_mode=pikepdf.AccessMode.stream) as pdf:
            if len(pdf.pages) < 1:
                raise Unreadable("the PDF has no pages")
            for page in pdf.pages:
                # Every page's drawing instructions parse. What qpdf only warns about (and
                # repairs, as readers do: a slightly wrong offset, a short stream) is kept.
                pikepdf.parse_content_stream(page)
            found: set[str] = set()
            root = pdf.Root
            opening = root.get("/OpenAction")
            # A destination (page and zoom, as most writers set) is harmless; an action not.
            if isinstance(opening, pikepdf.Dictionary) and opening.get("/S") != pikepdf.Name.GoTo:
                found.add("open-action")
            if "/AA" in root:
                found.add("additional-actions")
            acroform = root.get("/AcroForm")
            if isinstance(acroform, pikepdf.Dictionary) and "/XFA" in acroform:
                found.add("xfa")
            names = root.get("/Names")
            if isinstance(names, pikepdf.Dictionary):
                if "/JavaScript" in names:
                    found.add("javascript")
                if "/EmbeddedFiles" in names:
                    found.add("embedded-files")
            for obj in pdf.objects:
                _walk(obj, found, 0)
            return tuple(sorted(found))
    except pikepdf.PdfError as error:
        raise Unreadable("qpdf cannot open the PDF") from error
    except (RecursionError, ValueError, TypeError) as error:
        raise Unreadable("the PDF's structure cannot be read") from error


def _walk(obj: Any, found: set[str], depth: int) -> None:
    """Look at one object and its direct children (indirect ones are visited on their own)."""
    if depth > MAX_DEPTH:
        return
    if isinstance(obj, pikepdf.Stream):
        obj = obj.stream_dict
    if isinstance(obj, pikepdf.Dictionary):
        keys = set(obj.keys())
        if "/JS" in keys:
            found.add("javascript")
        if "/AA" in keys:
            found.add("additional-actions")
        if "/EF" in keys or obj.get("/Type") == pikepdf.Name.EmbeddedFile:
            found.add("embedded-files")
        if obj.get("/Subtype") == pikepdf.Name.FileAttachment:
            found.add("embedded-files")
        if obj.get("/Subtype") == pikepdf.Name.RichMedia:
            found.add("rich-media")
        action = obj.get("/S")
        if isinstance(action, pikepdf.Name) and str(action) in ACTIONS:
            found.add(ACTIONS[str(action)])
        children = [obj.get(key) for key in keys]
    elif isinstance(obj, pikepdf.Array):
        children = list(obj)
    else:
        return
    for child in children:
        if isinstance(child, pikepdf.Dictionary | pikepdf.Array) and not child.is_indirect:
            _walk(child, found, depth + 1)
