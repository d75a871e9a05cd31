"""The keyring inside a backup, sealed with a passphrase (scrypt + AES-256-GCM).

A backup without its keyring is worthless (every blob and TOTP secret is wrapped with it),
and a backup *with* a plain keyring is every document in plain text for whoever finds the
disk. So the keyring travels sealed: scrypt stretches the operator's passphrase into a key
(memory-hard, N=2^17, r=8: ~128 MiB per guess), AES-256-GCM encrypts and authenticates the
keyring JSON. The associated data binds the tenant slug and the snapshot id, so a sealed
keyring cannot be passed off as another tenant's or another snapshot's.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dokportal.backup.errors import BackupError
from dokportal.crypto import Keyring, KeyringError

FORMAT = "dokportal-sealed-keyring/1"
MIN_PASSPHRASE = 12
_N, _R, _P = 2**17, 8, 1
_CONTEXT = b"dokportal/backup-keyring/v1\x00"


def _aad(tenant: str, snapshot: str) -> bytes:
    return _CONTEXT + tenant.encode() + b"\x00" + snapshot.encode()


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def check_passphrase(passphrase: str) -> None:
    """A backup passphrase guards every document: refuse short ones."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the backup passphrase must have at least {MIN_PASSPHRASE} characters")


def seal(keyring: Keyring, passphrase: str, *, tenant: str, snapshot: str) -> bytes:
    """The sealed file's bytes (JSON; nothing in it is readable without the passphrase)."""
    check_passphrase(passphrase)
    salt = secrets.token_bytes(16)
    nonce = secrets.token_bytes(12)
    key = _derive(passphrase, salt, _N, _R, _P)
    sealed = AESGCM(key).encrypt(nonce, keyring.to_json().encode(), _aad(tenant, snapshot))
    document = {
        "format": FORMAT,
        "kdf": {"name": "scrypt", "n": _N, "r": _R, "p": _P},
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def unseal(data: bytes, passphrase: str, *, tenant: str, snapshot: str) -> Keyring:
    """The keyring back; `BackupError` for a wrong passphrase or an altered file."""
    try:
        document: Any = json.loads(data)
        if document["format"] != FORMAT or document["kdf"]["name"] != "scrypt":
            raise BackupError(f"unknown sealed keyring format {document.get('format')!r}")
        kdf = document["kdf"]
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if not (2**14 <= n <= 2**22 and 1 <= r <= 32 and 1 <= p <= 16):
            raise BackupError("sealed keyring: implausible scrypt parameters")
        salt = base64.b64decode(document["salt"], validate=True)
        nonce = base64.b64decode(document["nonce"], validate=True)
        sealed = base64.b64decode(document["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError) as error:
        raise BackupError(f"the sealed keyring is damaged ({type(error).__name__})") from None
    key = _derive(passphrase, salt, n, r, p)
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, _aad(tenant, snapshot))
    except InvalidTag:
        raise BackupError(
            "wrong backup passphrase (or the sealed keyring or its manifest was altered); "
            "nothing was written"
        ) from None
    try:
        return Keyring.from_json(plain)
    except KeyringError as error:
        raise BackupError(f"the sealed keyring holds no valid keyring: {error}") from None
