"""A staff form with one file, read as a stream: CSRF first, then fields, then the file.

Reuses the customer upload's streaming multipart reader and the one ingest pipeline, so a
notice is validated and encrypted exactly like a customer's upload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from dokportal.documents.multipart import Event, PartData, PartEnd, PartStart
from dokportal.files import FileIngest, Ingested
from dokportal.lib.errors import BadRequest, Forbidden
from dokportal.storage import BlobStore

MAX_FIELD_BYTES = 8 * 1024
MAX_FIELDS = 8


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
    form = SingleFileForm()
    current: FileIngest | None = None
    name: str | None = None
    value = bytearray()
    csrf_checked = False
    count = 0
    try:
        async for event in events:
            if isinstance(event, PartStart):
                if not csrf_checked and event.name != "_csrf":
                    raise Forbidden("The form has expired. Please reload the page and try again.")
                count += 1
                if count > MAX_FIELDS:
                    raise BadRequest("The form data could not be read. Please send the form again.")
                if event.filename is not None and event.name == file_field and event.filename:
                    if form.file is not None or current is not None:
                        raise BadRequest("Please choose exactly one file.")
                    current = new_ingest(event.filename)
                    name = None
                else:
                    name = event.name
                    value.clear()
            elif isinstance(event, PartData):
                if current is not None:
                    await current.feed(event.data)
                elif name is not None:
                    value += event.data
                    if len(value) > MAX_FIELD_BYTES:
                        raise BadRequest("The message is too long.")
            elif isinstance(event, PartEnd):
                if current is not None:
                    form.file = await current.finish()
                    current = None
                elif name is not None:
                    try:
                        text = bytes(value).decode("utf-8")
                    except UnicodeDecodeError as error:
                        raise BadRequest(
                            "The form data could not be read. Please send the form again."
                        ) from error
                    if name == "_csrf" and not csrf_checked:
                        if not csrf_ok(text):
                            raise Forbidden(
                                "The form has expired. Please reload the page and try again."
                            )
                        csrf_checked = True
                    else:
                        form.fields[name] = text
                    name = None
        if form.file is None:
            raise BadRequest("Please choose at least one file.")
        return form
    except BaseException:
        if current is not None:
            await current.abort()
        if form.file is not None:
            await store.delete(form.file.blob_id)
        raise
