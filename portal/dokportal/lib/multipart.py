"""Streaming ``multipart/form-data`` reader for every form that carries a file.

python-multipart's push parser turns body chunks into part events; we collect them per chunk
and hand them on asynchronously, so each file goes straight into the ingest pipeline without
touching a temporary file or being held whole in memory. Part headers are parsed by
:mod:`dokportal.lib.header_params` (UTF-8 names as browsers send them), not by
python-multipart's latin-1 ``parse_options_header``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from dokportal.i18n import N_
from dokportal.lib.errors import BadRequest
from dokportal.lib.header_params import parse_params, part_filename

MAX_PART_HEADERS = 8
MAX_HEADER_BYTES = 4096
MAX_BOUNDARY = 200
UNREADABLE = N_("The form data could not be read. Please send the form again.")


@dataclass
class PartStart:
    name: str
    filename: str | None
    content_type: str


@dataclass
class PartData:
    data: bytes


@dataclass
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


@dataclass
class _Collector:
    events: list[Event] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    field_name: bytearray = field(default_factory=bytearray)
    field_value: bytearray = field(default_factory=bytearray)
    finished: bool = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.field_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.field_value += data[start:end]

    def on_header_end(self) -> None:
        name = self.field_name.decode("latin-1").lower()
        self.headers[name] = _text(self.field_value)
        self.field_name.clear()
        self.field_value.clear()

    def on_headers_finished(self) -> None:
        disposition, params = parse_params(self.headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in params:
            raise BadRequest(UNREADABLE)
        content_type = self.headers.get("content-type", "text/plain")
        self.events.append(
            PartStart(
                name=params["name"], filename=part_filename(params), content_type=content_type
            )
        )
        self.headers = {}

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self.events.append(PartData(bytes(data[start:end])))

    def on_part_end(self) -> None:
        self.events.append(PartEnd())

    def on_end(self) -> None:
        self.finished = True


def _text(raw: bytearray) -> str:
    """Part headers as browsers send them (UTF-8); bytes that are not UTF-8 come from an old
    client in a Latin-1 locale (``M\\xe4rz.pdf``), which Latin-1 reads right."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def boundary_of(content_type: str | None) -> bytes:
    kind, params = parse_params(content_type or "")
    boundary = params.get("boundary", "")
    if (
        kind != "multipart/form-data"
        or not boundary
        or len(boundary) > MAX_BOUNDARY
        or not boundary.isascii()
    ):
        raise BadRequest(UNREADABLE)
    return boundary.encode("ascii")


async def parse_parts(body: AsyncIterator[bytes], content_type: str | None) -> AsyncIterator[Event]:
    """Yield part events from a streamed body; malformed input raises :class:`BadRequest`."""
    collector = _Collector()
    parser = MultipartParser(
        boundary_of(content_type),
        callbacks={
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_end": collector.on_end,
        },
        max_header_count=MAX_PART_HEADERS,
        max_header_size=MAX_HEADER_BYTES,
    )
    async for chunk in body:
        try:
            parser.write(chunk)
        except MultipartParseError as error:
            raise BadRequest(UNREADABLE) from error
        events, collector.events = collector.events, []
        for event in events:
            yield event
        if collector.finished:
            break
    if not collector.finished:
        raise BadRequest("The upload was incomplete. Please send the form again.")
