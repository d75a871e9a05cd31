"""Envelope encryption: wrapped keys are bound to their document, tenant and KEK."""

from __future__ import annotations

import dataclasses

import pytest

from dokportal.crypto import (
    DecryptionError,
    Keyring,
    UnknownKeyError,
    WrappedKey,
    blob_aad,
    new_data_key,
    rewrap,
    unwrap_data_key,
    wrap_data_key,
)

AAD = blob_aad("jobcenter-nord", "0123456789abcdef0123456789abcdef")


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


def test_round_trip(keyring: Keyring) -> None:
    data_key = new_data_key()
    wrapped = wrap_data_key(keyring, data_key, aad=AAD)
    assert wrapped.key_id == keyring.primary_id
    assert len(wrapped.wrapped) == 12 + 32 + 16
    assert data_key not in wrapped.wrapped
    assert unwrap_data_key(keyring, wrapped, aad=AAD) == data_key


def test_fresh_nonce_every_time(keyring: Keyring) -> None:
    data_key = new_data_key()
    first = wrap_data_key(keyring, data_key, aad=AAD)
    second = wrap_data_key(keyring, data_key, aad=AAD)
    assert first.wrapped != second.wrapped
    assert new_data_key() != new_data_key()


def test_key_from_another_document_is_rejected(keyring: Keyring) -> None:
    wrapped = wrap_data_key(keyring, new_data_key(), aad=AAD)
    other_document = blob_aad("jobcenter-nord", "ffffffffffffffffffffffffffffffff")
    with pytest.raises(DecryptionError):
        unwrap_data_key(keyring, wrapped, aad=other_document)


def test_key_from_another_tenant_is_rejected(keyring: Keyring) -> None:
    wrapped = wrap_data_key(keyring, new_data_key(), aad=AAD)
    other_tenant = Keyring.generate()
    with pytest.raises(DecryptionError) as info:
        unwrap_data_key(other_tenant, wrapped, aad=AAD)
    assert isinstance(info.value.__cause__, UnknownKeyError)
    # Same document id but the other tenant's name in the aad: rejected too.
    with pytest.raises(DecryptionError):
        unwrap_data_key(keyring, wrapped, aad=blob_aad("jobcenter-sued", "0123456789abcdef" * 2))


def test_same_key_id_with_other_material_is_rejected(keyring: Keyring) -> None:
    """Two tenants that happen to share a key id still cannot read each other."""
    wrapped = wrap_data_key(keyring, new_data_key(), aad=AAD)
    impostor = Keyring(keyring.primary_id, {keyring.primary_id: bytes(32)})
    with pytest.raises(DecryptionError):
        unwrap_data_key(impostor, wrapped, aad=AAD)


def test_every_bit_flip_is_rejected(keyring: Keyring) -> None:
    wrapped = wrap_data_key(keyring, new_data_key(), aad=AAD)
    for position in range(len(wrapped.wrapped)):
        tampered = bytearray(wrapped.wrapped)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError):
            unwrap_data_key(keyring, dataclasses.replace(wrapped, wrapped=bytes(tampered)), aad=AAD)


@pytest.mark.parametrize("length", [0, 59, 61])
def test_wrong_length_is_rejected(keyring: Keyring, length: int) -> None:
    with pytest.raises(DecryptionError, match="length"):
        unwrap_data_key(keyring, WrappedKey(keyring.primary_id, bytes(length)), aad=AAD)


def test_key_id_swap_is_rejected(keyring: Keyring) -> None:
    rotated = keyring.with_new_primary()
    wrapped = wrap_data_key(rotated, new_data_key(), aad=AAD)
    relabelled = dataclasses.replace(wrapped, key_id=keyring.primary_id)
    with pytest.raises(DecryptionError):
        unwrap_data_key(rotated, relabelled, aad=AAD)


def test_data_key_must_be_256_bits(keyring: Keyring) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_data_key(keyring, bytes(16), aad=AAD)


def test_rotation_and_rewrap(keyring: Keyring) -> None:
    data_key = new_data_key()
    old = wrap_data_key(keyring, data_key, aad=AAD)
    rotated = keyring.with_new_primary()

    # Before the rewrap, old keys still unwrap through the old KEK.
    assert unwrap_data_key(rotated, old, aad=AAD) == data_key

    new = rewrap(rotated, old, AAD)
    assert new.key_id == rotated.primary_id != old.key_id
    assert unwrap_data_key(rotated, new, aad=AAD) == data_key

    # Idempotent: running the job again changes nothing.
    assert rewrap(rotated, new, AAD) is new

    # Once everything is rewrapped the old key can go.
    retired = rotated.without_key(keyring.primary_id)
    assert unwrap_data_key(retired, new, aad=AAD) == data_key
    with pytest.raises(DecryptionError) as info:
        unwrap_data_key(retired, old, aad=AAD)
    assert isinstance(info.value.__cause__, UnknownKeyError)


def test_rewrap_refuses_a_tampered_or_foreign_key(keyring: Keyring) -> None:
    wrapped = wrap_data_key(keyring, new_data_key(), aad=AAD)
    rotated = keyring.with_new_primary()
    with pytest.raises(DecryptionError):
        rewrap(rotated, wrapped, blob_aad("jobcenter-nord", "other-document-id"))
    with pytest.raises(DecryptionError):  # even when already under the primary
        rewrap(keyring, wrapped, blob_aad("jobcenter-nord", "other-document-id"))


def test_repr_hides_wrapped_bytes(keyring: Keyring) -> None:
    wrapped = wrap_data_key(keyring, new_data_key(), aad=AAD)
    assert wrapped.wrapped.hex() not in repr(wrapped)
    assert repr(wrapped.wrapped) not in repr(wrapped)
