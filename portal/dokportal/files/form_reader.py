"""The one streaming form reader: multipart events in, checked fields and stored files out.

Every form that carries files (the customer's upload, the caseworker's notice) is read by
this state machine, so its rules hold everywhere and fixes land once:

* the ``_csrf`` field must be the first part: nothing is stored for a forged request;
* ordinary fields are bounded in number and size and must be UTF-8;
* a file part goes into the sink the form's :class:`FormHandler` opens for it;
* either every file is durably stored and returned, or the current sink is aborted and
  every blob written so far is deleted before the error propagates.

The handler decides what a field means and where a file goes; the reader never buffers a
file and adds no work per chunk beyond handing it on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dokportal.files.ingest import Ingested
from dokportal.i18n import N_
from dokportal.lib.errors import BadRequest, Forbidden
from dokportal.lib.multipart import UNREADABLE, Event, PartData, PartStart
from dokportal.storage import BlobStore

CSRF_FIELD = "_csrf"
EXPIRED = N_("The form has expired. Please reload the page and try again.")


class FileSink(Protocol):
    """Where one file part's bytes go: an ingest, a scanned page, or either."""

    async def feed(self, chunk: bytes) -> None: ...

    async def finish(self) -> Ingested | None: ...

    async def abort(self) -> None: ...


class FormHandler(Protocol):
    """What a particular form makes of its parts."""

    def open_file(self, name: str, filename: str, stored: Sequence[Ingested]) -> FileSink | None:
        """A sink for a non-empty file part, or None to read the part as an ordinary field.

        ``stored`` are the files finished so far (for limits and positions)."""

    def take_field(self, name: str, value: str) -> None:
        """Check and keep one ordinary field (raise a :class:`PortalError` to refuse it)."""


@dataclass(frozen=True)
class FieldLimits:
    max_fields: int
    max_field_bytes: int


async def read_form(
    events: AsyncIterator[Event],
    *,
    csrf_ok: Callable[[str], bool],
    handler: FormHandler,
    limits: FieldLimits,
    store: BlobStore,
) -> list[Ingested]:
    """Consume part events; return the stored files in the order they arrived."""
    reader = _Reader(csrf_ok, handler, limits)
    try:
        async for event in events:
            if isinstance(event, PartData):
                await reader.data(event.data)
            elif isinstance(event, PartStart):
                reader.start(event)
            else:
                await reader.end()
        return reader.stored
    except BaseException:
        await reader.abort()
        await discard(store, reader.stored)
        raise


async def discard(store: BlobStore, files: Sequence[Ingested]) -> None:
    """Delete blobs that were stored but will not be recorded."""
    for stored in files:
        await store.delete(stored.blob_id)


class _Reader:
    """The state between events: the open sink or field, the count of fields, CSRF seen."""

    def __init__(
        self, csrf_ok: Callable[[str], bool], handler: FormHandler, limits: FieldLimits
    ) -> None:
        self.csrf_ok = csrf_ok
        self.handler = handler
        self.limits = limits
        self.stored: list[Ingested] = []
        self.sink: FileSink | None = None
        self.field: str | None = None  # the ordinary field being read
        self.skipping = False  # an empty file input: its (empty) data is dropped
        self.value = bytearray()
        self.fields = 0
        self.csrf_checked = False

    def start(self, event: PartStart) -> None:
        if not self.csrf_checked and event.name != CSRF_FIELD:
            raise Forbidden(EXPIRED)
        self.field, self.sink, self.skipping = None, None, False
        if event.filename == "":
            self.skipping = True  # an empty <input type=file>: browsers send no bytes
            return
        if event.filename is not None:
            self.sink = self.handler.open_file(event.name, event.filename, self.stored)
            if self.sink is not None:
                return
        self.fields += 1
        if self.fields > self.limits.max_fields:
            raise BadRequest(UNREADABLE)
        self.field = event.name
        self.value.clear()

    async def data(self, chunk: bytes) -> None:
        if self.sink is not None:
            await self.sink.feed(chunk)
        elif self.field is not None:
            self.value += chunk
            if len(self.value) > self.limits.max_field_bytes:
                raise BadRequest("The message is too long.").at(self.field)

    async def end(self) -> None:
        if self.sink is not None:
            stored = await self.sink.finish()  # on failure the sink stays open for abort()
            self.sink = None
            if stored is not None:
                self.stored.append(stored)
        elif self.field is not None:
            name, self.field = self.field, None
            try:
                value = bytes(self.value).decode("utf-8")
            except UnicodeDecodeError as error:
                raise BadRequest(UNREADABLE) from error
            if name == CSRF_FIELD:
                if not self.csrf_ok(value):
                    raise Forbidden(EXPIRED)
                self.csrf_checked = True
            else:
                self.handler.take_field(name, value)

    async def abort(self) -> None:
        if self.sink is not None:
            sink, self.sink = self.sink, None
            await sink.abort()
