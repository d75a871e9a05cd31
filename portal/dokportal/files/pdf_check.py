"""A PDF opened with pikepdf (qpdf) before it is accepted, and searched for active content.

qpdf needs random access to the whole file (the cross-reference table is at its end), so
the bytes are collected in memory as they stream past: at most the upload limit per file
being received (20 MB by default), freed as soon as the check is done. The stream itself
is not changed; the stored bytes are the uploaded ones.

Active content is what a PDF reader may run or open on its own: JavaScript, an action when
the document opens (``/OpenAction``) or when a page, field or annotation is touched
(``/AA``), ``/Launch`` (start a program), embedded files, XFA forms, form submission and
rich media. Such a PDF is accepted but flagged; staff get a rendered safe copy by default.
"""

from __future__ import annotations

import io
from typing import Any

import pikepdf

from dokportal.files.checks import Unreadable

# Acrobat's own rule: the end-of-file marker must be within the last 1024 bytes.
EOF_WINDOW = 1024
MAX_DEPTH = 32

ACTIONS = {
    "/JavaScript": "javascript",
    "/Launch": "launch",
    "/SubmitForm": "submit-form",
    "/ImportData": "import-data",
    "/GoToE": "embedded-files",
    "/RichMediaExecute": "rich-media",
}


class PdfCollector:
    """Feed PDF bytes (passed on unchanged); :meth:`close` opens and inspects the whole."""

    def __init__(self, max_bytes: int) -> None:
        self._data = bytearray()
        self._max_bytes = max_bytes
        self.active: tuple[str, ...] = ()

    def feed(self, data: bytes | bytearray) -> bytes | bytearray:
        if len(self._data) + len(data) > self._max_bytes:
            raise Unreadable("the PDF is larger than the check allows")
        self._data += data
        return data

    def close(self) -> bytes:
        data, self._data = self._data, bytearray()
        self.active = inspect_pdf(data)
        return b""


class _View(io.RawIOBase):
    """Seekable reads straight from the collected bytes: ``BytesIO`` would copy them."""

    def __init__(self, data: bytes | bytearray) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        piece = self._view[self._pos : self._pos + len(buffer)]
        buffer[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)


def inspect_pdf(data: bytes | bytearray) -> tuple[str, ...]:
    """The kinds of active content in ``data`` (sorted); :class:`Unreadable` if damaged."""
    if b"%%EOF" not in data[-EOF_WINDOW:]:
        raise Unreadable("the PDF has no end (truncated)")
    try:
        with pikepdf.open(io.BufferedReader(_View(data), 64 * 1024)) as pdf:
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
