"""The tenant keyring as the portal reads it: ``{"primary": id, "keys": {id: base64}}``.

The operator owns the Secret that holds it. Material comes from the OS CSPRNG (`secrets`) and
never leaves this module except as the Secret's value: `Keyring.__repr__` shows ids only, and
nothing here logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

KEY_BYTES = 32  # AES-256, as the portal requires
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyringInvalid(ValueError):
    """The Secret's keyring cannot be parsed; the message never quotes the material."""


@dataclass(frozen=True)
class Keyring:
    primary: str
    keys: dict[str, bytes] = field(repr=False)

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary!r}, ids={sorted(self.keys)!r})"

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.keys))

    def to_json(self) -> str:
        encoded = {key_id: base64.b64encode(value).decode() for key_id, value in self.keys.items()}
        return json.dumps({"primary": self.primary, "keys": encoded}, sort_keys=True)

    def rotated(self, today: date | None = None) -> Keyring:
        """A new random primary; the old keys stay so existing data keys still unwrap."""
        key_id = new_key_id(today, self.keys)
        return Keyring(key_id, {**self.keys, key_id: secrets.token_bytes(KEY_BYTES)})

    def without(self, retired: set[str]) -> Keyring:
        """Drop retired keys (never the primary)."""
        keep = {k: v for k, v in self.keys.items() if k not in retired or k == self.primary}
        return Keyring(self.primary, keep)


def generate(today: date | None = None) -> Keyring:
    key_id = new_key_id(today, {})
    return Keyring(key_id, {key_id: secrets.token_bytes(KEY_BYTES)})


def new_key_id(today: date | None, existing: dict[str, bytes]) -> str:
    """``k-YYYYMMDD-xxxxxx``: sorts by date, random so ids never clash (the portal's format)."""
    stamp = (today or datetime.now(UTC).date()).strftime("%Y%m%d")
    while True:
        key_id = f"k-{stamp}-{secrets.token_hex(3)}"
        if key_id not in existing:
            return key_id


def parse(text: str | bytes) -> Keyring:
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise KeyringInvalid("the keyring is not valid JSON") from None
    if not isinstance(document, dict):
        raise KeyringInvalid("the keyring is not a JSON object")
    primary = document.get("primary")
    raw = document.get("keys")
    if not isinstance(primary, str) or not isinstance(raw, dict) or primary not in raw:
        raise KeyringInvalid("the keyring needs 'primary' naming one of its 'keys'")
    keys: dict[str, bytes] = {}
    for key_id, value in raw.items():
        if not isinstance(key_id, str) or not _KEY_ID.match(key_id) or not isinstance(value, str):
            raise KeyringInvalid("the keyring has a malformed key entry")
        try:
            material = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise KeyringInvalid(f"key {key_id!r} is not valid base64") from None
        if len(material) != KEY_BYTES:
            raise KeyringInvalid(f"key {key_id!r} is not {KEY_BYTES} bytes")
        keys[key_id] = material
    return Keyring(primary, keys)


def session_secret() -> str:
    """The portal's CSRF signing secret, shared by all its pods."""
    return secrets.token_urlsafe(48)
