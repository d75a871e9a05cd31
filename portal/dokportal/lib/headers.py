"""Security headers on every response (ASVS V14, security.md item 22)."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def security_headers_middleware(hsts: bool) -> type:
    """Build an ASGI middleware class; ``hsts`` only when served over HTTPS."""

    class SecurityHeaders:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await self.app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableScopeHeaders.from_message(message)
                    headers.setdefault("content-security-policy", CSP)
                    headers["x-content-type-options"] = "nosniff"
                    headers["referrer-policy"] = "no-referrer"
                    headers["x-frame-options"] = "DENY"
                    headers["cross-origin-opener-policy"] = "same-origin"
                    headers["permissions-policy"] = "geolocation=(), microphone=()"
                    headers.setdefault("cache-control", "no-store")
                    if hsts:
                        headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"
                await send(message)

            await self.app(scope, receive, send_with_headers)

    return SecurityHeaders
