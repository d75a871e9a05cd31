"""CSRF protection for every state-changing form (signed double-submit cookie).

Each browser gets a random ``csrf`` cookie; forms carry ``HMAC(secret, cookie)`` in the
hidden field ``_csrf``. A cross-site attacker can neither read the cookie nor forge the HMAC.
We do this ourselves instead of using Litestar's CSRF middleware because that middleware
parses the whole form, which would spool uploads to disk before our streaming handler runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

FIELD_NAME = "_csrf"


def cookie_name(secure: bool) -> str:
    """``__Host-`` binds the cookie to our origin; it needs HTTPS, so plain-http demos omit it."""
    return "__Host-csrf" if secure else "csrf"


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def form_token(secret: str, cookie_value: str) -> str:
    """The value a form must send back for ``cookie_value``."""
    return hmac.new(secret.encode(), cookie_value.encode(), hashlib.sha256).hexdigest()


def token_matches(secret: str, cookie_value: str | None, submitted: str | None) -> bool:
    """Compare as bytes: ``compare_digest`` raises on ``str`` with non-ASCII characters, and a
    forged ``_csrf`` of any text must be a 403, never a 500."""
    if not cookie_value or not submitted:
        return False
    expected = form_token(secret, cookie_value).encode()
    return hmac.compare_digest(expected, submitted.encode("utf-8", errors="surrogatepass"))
