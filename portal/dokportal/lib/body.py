"""Reading a request body as a stream with our own limit and disconnect handling.

Litestar's ``request.stream()`` turns a client that disconnects into a 500; an upload that
is abandoned half-way is normal on a phone, so we read ASGI messages ourselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request

from dokportal.i18n import N_
from dokportal.lib.errors import BadRequest, TooLarge


class ClientDisconnected(BadRequest):
    """The client went away before the body was complete."""

    def __init__(self) -> None:
        super().__init__(N_("The connection was interrupted before the upload was complete."))


async def iter_body(
    request: Request[Any, Any, Any], limit: int, limit_words: str
) -> AsyncIterator[bytes]:
    """Yield body chunks; raise :class:`TooLarge` past ``limit`` bytes."""
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise TooLarge("The upload is too large. The limit is %(limit)s.", limit=limit_words)
    received = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        if message["type"] != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        if chunk:
            received += len(chunk)
            if received > limit:
                raise TooLarge(
                    "The upload is too large. The limit is %(limit)s.", limit=limit_words
                )
            yield chunk
        if not message.get("more_body", False):
            return
