"""CSRF protection for every state-changing form (signed double-submit cookie, bound to the
session).

Each browser gets a random ``csrf`` cookie; forms carry ``HMAC(secret, cookie, sessions)``
in the hidden field ``_csrf``, where *sessions* is a hash of the browser's session cookies
(none before sign-in). A cross-site attacker can neither read the cookie nor forge the HMAC;
a token minted before sign-in or for another session does not match, and the cookie itself
is replaced whenever a session starts or ends (see ``lib/web.queue_cookie``).
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


def session_binding(*session_tokens: str | None) -> str:
    """A hash over the session cookie values present, in a fixed order ("" when none)."""
    present = [token or "" for token in session_tokens]
    if not any(present):
        return ""
    return hashlib.sha256("\x00".join(present).encode("utf-8", "replace")).hexdigest()


def form_token(secret: str, cookie_value: str, binding: str = "") -> str:
    """The value a form must send back for ``cookie_value`` and the sessions ``binding``."""
    message = f"{cookie_value}\x00{binding}".encode("utf-8", "replace")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def token_matches(
    secret: str, cookie_value: str | None, submitted: str | None, binding: str = ""
) -> bool:
    """Compared as bytes: a submitted value in any script is simply wrong, never an error."""
    if not cookie_value or not submitted:
        return False
    expected = form_token(secret, cookie_value, binding).encode("ascii")
    return hmac.compare_digest(expected, submitted.encode("utf-8", "replace"))
