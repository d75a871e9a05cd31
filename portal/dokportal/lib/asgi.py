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
