"""A staff form with one file, read as a stream: CSRF first, then fields, then the file.

Uses the one streaming form reader (:mod:`dokportal.files.form_reader`) and the one ingest
pipeline, so a notice is validated and encrypted exactly like a customer's upload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from dokportal.files import FileIngest, Ingested
from dokportal.files.form_reader import FieldLimits, discard, read_form
from dokportal.lib.errors import BadRequest
from dokportal.lib.multipart import Event
from dokportal.storage import BlobStore

LIMITS = FieldLimits(max_fields=8, max_field_bytes=8 * 1024)


@dataclass
class SingleFileForm:
    fields: dict[str, str] = field(default_factory=dict)
    file: Ingested | None = None


async def receive_single_file(
    events: AsyncIterator[Event],
    *,
    csrf_ok: Callable[[str], bool],
    new_ingest: Callable[[str], FileIngest],
    file_field: str,
    store: BlobStore,
) -> SingleFileForm:
    """Either the file is durably stored and returned with the fields, or nothing is."""
    handler = _SingleFileHandler(file_field, new_ingest)
    files = await read_form(events, csrf_ok=csrf_ok, handler=handler, limits=LIMITS, store=store)
    if not files:
        await discard(store, files)
        raise BadRequest("Please choose at least one file.")
    handler.form.file = files[0]
    return handler.form


class _SingleFileHandler:
    def __init__(self, file_field: str, new_ingest: Callable[[str], FileIngest]) -> None:
        self.file_field = file_field
        self.new_ingest = new_ingest
        self.opened = False
        self.form = SingleFileForm()

    def open_file(self, name: str, filename: str, stored: Sequence[Ingested]) -> FileIngest | None:
        if name != self.file_field:
            return None
        if self.opened:
            raise BadRequest("Please choose exactly one file.")
        self.opened = True
        return self.new_ingest(filename)

    def take_field(self, name: str, value: str) -> None:
        self.form.fields[name] = value
