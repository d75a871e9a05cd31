"""TOTP (RFC 6238) with replay protection, and the enrolment QR code.

The secret is 32 random bytes, wrapped with the tenant key like a data key, so a database
dump alone does not let anyone mint codes. A code is accepted only for a 30-second step later
than the last accepted one, which makes every code single-use.
"""

from __future__ import annotations

import base64
import hmac
import io
import logging
import time

import pyotp
import segno

from dokportal.crypto import WrappedKey, new_data_key, unwrap_data_key, wrap_data_key
from dokportal.crypto.keyring import Keyring
from dokportal.lib.errors import KeyUnavailable

log = logging.getLogger("dokportal.staff")

STEP_SECONDS = 30


def aad(tenant: str, username: str) -> bytes:
    """What a TOTP secret is bound to: moving it to another account makes it unreadable."""
    return f"dokportal-totp|{tenant}|{username}".encode()


def new_secret() -> bytes:
    return new_data_key()


def as_base32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def wrap(keyring: Keyring, secret: bytes, tenant: str, username: str) -> tuple[str, str]:
    wrapped = wrap_data_key(keyring, secret, aad=aad(tenant, username))
    return wrapped.key_id, base64.b64encode(wrapped.wrapped).decode()


def unwrap(keyring: Keyring, key_id: str, wrapped: str, tenant: str, username: str) -> bytes:
    if key_id not in keyring:
        # An operator's problem (a key retired too early, a wrong keyring), not a wrong code.
        log.error(
            "TOTP secret of a staff account is wrapped with key %s, not in the keyring", key_id
        )
        raise KeyUnavailable(
            "Two-factor sign-in is not possible at the moment: its key is not available. "
            "Nothing was lost. Please tell the office's IT support."
        )
    return unwrap_data_key(
        keyring,
        WrappedKey(key_id=key_id, wrapped=base64.b64decode(wrapped)),
        aad=aad(tenant, username),
    )


def provisioning_uri(secret: bytes, username: str, issuer: str) -> str:
    return pyotp.TOTP(as_base32(secret)).provisioning_uri(name=username, issuer_name=issuer)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: bytes, step: int) -> str:
    return pyotp.TOTP(as_base32(secret)).generate_otp(step)


def matching_step(
    secret: bytes, code: str, last_step: int, window: int, now: float | None = None
) -> int | None:
    """The step ``code`` belongs to, if it is within the window and newer than ``last_step``."""
    cleaned = code.replace(" ", "").strip()
    if not cleaned.isdigit() or len(cleaned) != 6:
        return None
    step_now = current_step(now)
    for step in range(step_now - window, step_now + window + 1):
        if step > last_step and hmac.compare_digest(code_at(secret, step), cleaned):
            return step
    return None


def qr_data_uri(uri: str) -> str:
    """An SVG QR code as a data: URI (allowed by our CSP's img-src), no script needed."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def qr_png(text: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()
