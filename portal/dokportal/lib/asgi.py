"""The one ASGI wrapper our middlewares need: edit a response's headers as it starts."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send


class ResponseHeadersMiddleware:
    """Calls :meth:`edit` with the headers of every HTTP response before they are sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def edit(self, scope: Scope, headers: MutableScopeHeaders) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def send_edited(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.edit(scope, MutableScopeHeaders.from_message(message))
            await send(message)

        await self.app(scope, receive, send_edited)


UPLOAD_REFUSED = "dokportal.upload_refused"
"""Scope key set when a client already has its maximum of uploads in progress."""


class UploadSlots:
    """Counts uploads in progress per client address; one too many is marked, not run.

    An upload is a ``multipart/form-data`` POST. The client address is the one uvicorn's
    proxy-header handling already resolved (``DOKPORTAL_FORWARDED_ALLOW_IPS``). A marked
    request still reaches the app, whose streaming routes answer it with a translated 429
    before reading its body (``lib/web.prepare_request``). Counts are per process.
    """

    def __init__(self, app: ASGIApp, max_per_client: int, active: dict[str, int]) -> None:
        self.app = app
        self.max_per_client = max_per_client
        # Litestar builds one middleware instance per route: the counts are shared.
        self.active = active

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != ScopeType.HTTP
            or scope.get("method") != "POST"
            or not _multipart(scope)
        ):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else ""
        if self.active.get(key, 0) >= self.max_per_client:
            scope[UPLOAD_REFUSED] = True  # type: ignore[literal-required]
            await self.app(scope, receive, send)
            return
        self.active[key] = self.active.get(key, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.active[key] - 1
            if left:
                self.active[key] = left
            else:
                del self.active[key]


def _multipart(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value[:19].lower() == b"multipart/form-data"
    return False
