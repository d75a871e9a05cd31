"""Security headers on every response (ASVS V14, security.md item 22)."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Scope

from dokportal.lib.asgi import ResponseHeadersMiddleware

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def security_headers_middleware(hsts: bool) -> type:
    """Build an ASGI middleware class; ``hsts`` only when served over HTTPS."""

    class SecurityHeaders(ResponseHeadersMiddleware):
        def edit(self, scope: Scope, headers: MutableScopeHeaders) -> None:
            headers.setdefault("content-security-policy", CSP)
            headers["x-content-type-options"] = "nosniff"
            headers["referrer-policy"] = "no-referrer"
            headers["x-frame-options"] = "DENY"
            headers["cross-origin-opener-policy"] = "same-origin"
            headers["permissions-policy"] = "geolocation=(), microphone=()"
            if not scope["path"].startswith("/static/"):
                # Pages may hold personal data; styles, scripts and icons are public and
                # keep the static router's validators (ETag, Last-Modified) for caching.
                headers.setdefault("cache-control", "no-store")
            if hsts:
                headers["strict-transport-security"] = "max-age=31536000; includeSubDomains"

    return SecurityHeaders
