"""Envelope encryption: a random data key per blob, wrapped by the tenant's primary KEK.

Why envelopes: rotating a KEK then means rewrapping 60-byte keys in the database,
never re-encrypting gigabytes of blobs; and deleting the keyring shreds every document
at once.

The caller's ``aad`` must name the document (see `segments.blob_aad`): a wrapped key
copied onto another document's row, or into another tenant, then fails to unwrap
instead of silently decrypting the wrong blob.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dokportal.crypto.errors import DecryptionError, UnknownKeyError
from dokportal.crypto.keyring import KEY_BYTES, Keyring

DATA_KEY_BYTES = KEY_BYTES
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_BYTES = NONCE_BYTES + DATA_KEY_BYTES + TAG_BYTES

_WRAP_CONTEXT = b"dokportal/wrap/v1\x00"
"""Domain separation: a wrapped key is never confused with a blob segment, even if a
caller passes the same aad to both."""


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under one KEK; safe to store in the database.

    ``wrapped`` is nonce (12) | ciphertext (32) | tag (16). ``key_id`` says which KEK
    to use, and is itself authenticated (part of the associated data).
    """

    key_id: str
    wrapped: bytes

    def __repr__(self) -> str:
        size = len(self.wrapped)
        return f"WrappedKey(key_id={self.key_id!r}, wrapped=<{size} bytes>)"


def new_data_key() -> bytes:
    """Return a fresh random 256-bit data key, one per blob."""
    return secrets.token_bytes(DATA_KEY_BYTES)


def wrap_data_key(keyring: Keyring, data_key: bytes, *, aad: bytes) -> WrappedKey:
    """Encrypt `data_key` under the keyring's primary KEK, bound to `aad`."""
    if len(data_key) != DATA_KEY_BYTES:
        raise ValueError(f"data key must be {DATA_KEY_BYTES} bytes")
    key_id = keyring.primary_id
    nonce = secrets.token_bytes(NONCE_BYTES)
    kek = AESGCM(keyring.key(key_id))
    sealed = kek.encrypt(nonce, data_key, _associated(key_id, aad))
    return WrappedKey(key_id=key_id, wrapped=nonce + sealed)


def unwrap_data_key(keyring: Keyring, wrapped: WrappedKey, *, aad: bytes) -> bytes:
    """Decrypt a wrapped data key; all failures raise DecryptionError."""
    if len(wrapped.wrapped) != WRAPPED_BYTES:
        raise DecryptionError("wrapped data key has the wrong length")
    try:
        kek = AESGCM(keyring.key(wrapped.key_id))
    except UnknownKeyError as exc:
        # Chained, so a rewrap job can tell "key retired too early" from tampering.
        raise DecryptionError(f"cannot unwrap data key: {exc}") from exc
    nonce, sealed = wrapped.wrapped[:NONCE_BYTES], wrapped.wrapped[NONCE_BYTES:]
    try:
        return kek.decrypt(nonce, sealed, _associated(wrapped.key_id, aad))
    except InvalidTag:
        raise DecryptionError("wrapped data key failed authentication") from None


def rewrap(keyring: Keyring, wrapped: WrappedKey, aad: bytes) -> WrappedKey:
    """Re-encrypt a data key under the current primary (rotation).

    Idempotent, so a rewrap job killed half-way can simply run again: a key already
    under the primary is verified and returned unchanged (no needless database write).
    """
    data_key = unwrap_data_key(keyring, wrapped, aad=aad)
    if wrapped.key_id == keyring.primary_id:
        return wrapped
    return wrap_data_key(keyring, data_key, aad=aad)


def _associated(key_id: str, aad: bytes) -> bytes:
    """Build context | len(key_id) | key_id | aad: unambiguous, binds the key id."""
    encoded = key_id.encode("utf-8")
    return _WRAP_CONTEXT + len(encoded).to_bytes(2, "big") + encoded + aad
