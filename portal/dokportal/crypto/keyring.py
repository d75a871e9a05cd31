"""A tenant's key-encryption keys (KEKs).

The keyring is the one secret that makes a tenant's documents readable: the operator
keeps it in a Kubernetes Secret, the portal reads it from the mounted file, and deleting
it crypto-shreds the tenant. It holds several keys so that rotation never breaks old
documents: new data keys are wrapped with the *primary*, older keys stay until nothing
refers to them any more.

File format (the Secret's value)::

    {"primary": "k-20261125-1a2b3c",
     "keys": {"k-20261125-1a2b3c": "<base64 of 32 bytes>"}}
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import tempfile
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dokportal.crypto.errors import KeyringError, UnknownKeyError

KEY_BYTES = 32
"""AES-256: the only key size we accept, so a short key can never slip in."""

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Key ids end up in database rows, logs and the Portal status: short and inert."""


class Keyring:
    """An immutable set of KEKs with one primary.

    Immutable so that a keyring handed to a request can never change under it;
    rotation returns a new keyring (`with_new_primary`) that the operator saves and the
    portal reloads.
    """

    __slots__ = ("_keys", "_primary_id")

    def __init__(self, primary_id: str, keys: Mapping[str, bytes]) -> None:
        """Validate and freeze; raise `KeyringError` on anything inconsistent."""
        if not keys:
            raise KeyringError("keyring has no keys")
        for key_id, material in keys.items():
            _check_key_id(key_id)
            if len(material) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r} is {len(material)} bytes, expected {KEY_BYTES}")
        if primary_id not in keys:
            raise KeyringError(f"primary key {primary_id!r} is not in the keyring")
        self._primary_id = primary_id
        self._keys: Mapping[str, bytes] = MappingProxyType(
            {key_id: bytes(material) for key_id, material in keys.items()}
        )

    # -- construction --

    @classmethod
    def generate(cls, *, today: date | None = None) -> Keyring:
        """Create a keyring with one random primary key (for a new tenant)."""
        key_id = _new_key_id(today, existing=())
        return cls(key_id, {key_id: secrets.token_bytes(KEY_BYTES)})

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """Read a keyring file; every failure is a `KeyringError` naming the file."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyringError(f"keyring file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyringError(f"keyring file {path} cannot be read: {exc}") from None
        try:
            return cls.from_json(text)
        except KeyringError as exc:
            raise KeyringError(f"keyring file {path}: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Keyring:
        """Parse the JSON format (e.g. straight from a Secret's data)."""
        try:
            document: Any = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            # Deliberately no excerpt of the text: it holds key material.
            line = getattr(exc, "lineno", "?")
            raise KeyringError(f"not valid JSON (line {line})") from None
        if not isinstance(document, dict):
            raise KeyringError("expected a JSON object with 'primary' and 'keys'")
        primary = document.get("primary")
        encoded = document.get("keys")
        if not isinstance(primary, str):
            raise KeyringError("'primary' must be a string key id")
        if not isinstance(encoded, dict):
            raise KeyringError("'keys' must be an object of key id to base64 key")
        keys = {key_id: _decode_key(key_id, value) for key_id, value in encoded.items()}
        return cls(primary, keys)

    # -- access --

    @property
    def primary_id(self) -> str:
        """The id of the key that wraps every new data key."""
        return self._primary_id

    @property
    def ids(self) -> tuple[str, ...]:
        """All key ids, sorted (the date comes first in an id, so oldest first)."""
        return tuple(sorted(self._keys))

    def key(self, key_id: str) -> bytes:
        """Return the material of `key_id`; `UnknownKeyError` if it is missing."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyError(f"key {key_id!r} is not in the keyring") from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __repr__(self) -> str:
        # Never the material: keyrings end up in tracebacks and debug logs.
        return f"Keyring(primary_id={self._primary_id!r}, ids={list(self.ids)!r})"

    # -- change (returns new keyrings) --

    def with_new_primary(self, *, today: date | None = None) -> Keyring:
        """Rotate: add a fresh key and make it primary; old keys stay to unwrap."""
        key_id = _new_key_id(today, existing=self._keys)
        return Keyring(key_id, {**self._keys, key_id: secrets.token_bytes(KEY_BYTES)})

    def without_key(self, key_id: str) -> Keyring:
        """Retire a key (rotation's last step), once no wrapped data key uses it.

        The primary cannot be retired; rotate first.
        """
        self.key(key_id)
        if key_id == self._primary_id:
            raise KeyringError(f"key {key_id!r} is the primary and cannot be retired")
        rest = {k: v for k, v in self._keys.items() if k != key_id}
        return Keyring(self._primary_id, rest)

    # -- persistence --

    def to_json(self) -> str:
        """Serialise to the file format (key material: handle like the Secret)."""
        document = {
            "primary": self._primary_id,
            "keys": {
                key_id: base64.b64encode(material).decode("ascii")
                for key_id, material in sorted(self._keys.items())
            },
        }
        return json.dumps(document, indent=2) + "\n"

    def save(self, path: Path) -> None:
        """Write atomically: readers see the old or the new keyring, never half of one.

        Temp file in the same directory (so the rename cannot cross file systems), mode
        0600 from the start (mkstemp), fsync before the rename and of the directory
        after it: a crash must never leave an empty keyring, that would shred the
        tenant.
        """
        directory = path.parent
        fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_directory(directory)


def _check_key_id(key_id: object) -> None:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise KeyringError(
            f"key id {key_id!r} is invalid "
            "(1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
        )


def _decode_key(key_id: str, value: object) -> bytes:
    _check_key_id(key_id)
    if not isinstance(value, str):
        raise KeyringError(f"key {key_id!r} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"key {key_id!r} is not valid base64") from None


def _new_key_id(today: date | None, existing: Collection[str]) -> str:
    """Make ``k-YYYYMMDD-xxxxxx``: sorts by creation date, random so ids never clash."""
    stamp = (today or datetime.now(UTC).date()).strftime("%Y%m%d")
    while True:
        key_id = f"k-{stamp}-{secrets.token_hex(3)}"
        if key_id not in existing:
            return key_id


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
