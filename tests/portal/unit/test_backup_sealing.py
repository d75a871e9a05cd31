"""The keyring in a backup: sealed under a passphrase, bound to its tenant and snapshot."""

from __future__ import annotations

import base64
import json

import pytest

from dokportal.backup import BackupError
from dokportal.backup.sealing import seal, unseal
from dokportal.crypto import Keyring

PASSPHRASE = "correct horse battery staple"


def test_round_trip_and_no_key_material_in_the_file() -> None:
    ring = Keyring.generate().with_new_primary()
    sealed = seal(ring, PASSPHRASE, tenant="lorsch", snapshot="s1")
    for key_id in ring.ids:
        assert key_id.encode() not in sealed
        assert base64.b64encode(ring.key(key_id)) not in sealed
        assert ring.key(key_id) not in sealed
    back = unseal(sealed, PASSPHRASE, tenant="lorsch", snapshot="s1")
    assert back.to_json() == ring.to_json()


@pytest.mark.parametrize(
    ("passphrase", "tenant", "snapshot"),
    [
        ("correct horse battery stapler", "lorsch", "s1"),  # wrong passphrase
        (PASSPHRASE, "heppenheim", "s1"),  # another tenant's manifest
        (PASSPHRASE, "lorsch", "s2"),  # another snapshot's manifest
    ],
)
def test_anything_else_is_refused(passphrase: str, tenant: str, snapshot: str) -> None:
    sealed = seal(Keyring.generate(), PASSPHRASE, tenant="lorsch", snapshot="s1")
    with pytest.raises(BackupError, match="wrong backup passphrase"):
        unseal(sealed, passphrase, tenant=tenant, snapshot=snapshot)


def test_a_tampered_or_damaged_file_is_refused() -> None:
    document = json.loads(seal(Keyring.generate(), PASSPHRASE, tenant="t", snapshot="s"))
    flipped = bytearray(base64.b64decode(document["ciphertext"]))
    flipped[0] ^= 1
    document["ciphertext"] = base64.b64encode(bytes(flipped)).decode()
    with pytest.raises(BackupError, match="wrong backup passphrase"):
        unseal(json.dumps(document).encode(), PASSPHRASE, tenant="t", snapshot="s")
    with pytest.raises(BackupError, match="damaged"):
        unseal(b"{}", PASSPHRASE, tenant="t", snapshot="s")
    weak = {**document, "kdf": {"name": "scrypt", "n": 2, "r": 1, "p": 1}}
    with pytest.raises(BackupError, match="implausible"):
        unseal(json.dumps(weak).encode(), PASSPHRASE, tenant="t", snapshot="s")


def test_short_passphrases_are_refused() -> None:
    with pytest.raises(BackupError, match="at least 12"):
        seal(Keyring.generate(), "kurz", tenant="t", snapshot="s")
