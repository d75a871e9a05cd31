"""The tenant keyring: file format, validation, atomic save, rotation, no leaks."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dokportal.crypto import Keyring, KeyringError, UnknownKeyError

KEY_ID = re.compile(r"k-\d{8}-[0-9a-f]{6}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, document: Any) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_generate_makes_one_random_primary() -> None:
    keyring = Keyring.generate(today=date(2026, 11, 25))
    assert keyring.ids == (keyring.primary_id,)
    assert KEY_ID.fullmatch(keyring.primary_id)
    assert keyring.primary_id.startswith("k-20261125-")
    assert len(keyring.key(keyring.primary_id)) == 32
    other = Keyring.generate()
    assert other.key(other.primary_id) != keyring.key(keyring.primary_id)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    keyring = Keyring.generate().with_new_primary()
    path = tmp_path / "keyring.json"
    keyring.save(path)
    loaded = Keyring.load(path)
    assert loaded.primary_id == keyring.primary_id
    assert loaded.ids == keyring.ids
    for key_id in keyring.ids:
        assert loaded.key(key_id) == keyring.key(key_id)


def test_save_is_private_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    write(path, "old contents")
    Keyring.generate().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]
    Keyring.load(path)


def test_failed_save_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keyring.json"
    original = Keyring.generate()
    original.save(path)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        Keyring.generate().save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]
    assert Keyring.load(path).primary_id == original.primary_id


def test_load_accepts_the_documented_format(tmp_path: Path) -> None:
    material = os.urandom(32)
    path = write(
        tmp_path / "k.json",
        {"primary": "k-20261125-1a2b3c", "keys": {"k-20261125-1a2b3c": b64(material)}},
    )
    keyring = Keyring.load(path)
    assert keyring.primary_id == "k-20261125-1a2b3c"
    assert keyring.key("k-20261125-1a2b3c") == material


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ({"keys": {"a": b64(bytes(32))}}, "'primary' must be a string"),
        ({"primary": "a"}, "'keys' must be an object"),
        ({"primary": "a", "keys": {}}, "no keys"),
        ({"primary": "b", "keys": {"a": b64(bytes(32))}}, "primary key 'b' is not in"),
        ({"primary": "a", "keys": {"a": b64(bytes(16))}}, "16 bytes, expected 32"),
        ({"primary": "a", "keys": {"a": b64(bytes(33))}}, "33 bytes, expected 32"),
        ({"primary": "a", "keys": {"a": "not base64!"}}, "not valid base64"),
        ({"primary": "a", "keys": {"a": 42}}, "must be a base64 string"),
        (
            {"primary": "../x", "keys": {"../x": b64(bytes(32))}},
            "key id '../x' is invalid",
        ),
    ],
)
def test_load_rejects_bad_files(tmp_path: Path, document: Any, message: str) -> None:
    path = write(tmp_path / "keyring.json", document)
    with pytest.raises(KeyringError, match=re.escape(message)) as info:
        Keyring.load(path)
    assert str(path) in str(info.value)


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(KeyringError, match=f"keyring file {re.escape(str(path))} does not"):
        Keyring.load(path)


def test_errors_never_echo_key_material(tmp_path: Path) -> None:
    secret = b64(os.urandom(32))
    path = write(tmp_path / "k.json", f'{{"primary": "a", "keys": {{"a": "{secret}"')
    with pytest.raises(KeyringError) as info:
        Keyring.load(path)
    assert secret not in str(info.value)


def test_unknown_key() -> None:
    keyring = Keyring.generate()
    with pytest.raises(UnknownKeyError, match="'k-19990101-000000' is not in") as info:
        keyring.key("k-19990101-000000")
    assert isinstance(info.value, KeyError)
    assert "k-19990101-000000" not in keyring


def test_repr_hides_material() -> None:
    keyring = Keyring.generate()
    material = keyring.key(keyring.primary_id)
    text = repr(keyring)
    assert keyring.primary_id in text
    assert b64(material) not in text
    assert repr(material) not in text
    assert material.hex() not in text


def test_rotation_adds_primary_and_keeps_old_keys() -> None:
    first = Keyring.generate()
    second = first.with_new_primary()
    assert second.primary_id != first.primary_id
    assert set(second.ids) == {first.primary_id, second.primary_id}
    assert second.key(first.primary_id) == first.key(first.primary_id)
    assert first.ids == (first.primary_id,)  # the original is untouched


def test_retiring_keys() -> None:
    first = Keyring.generate()
    second = first.with_new_primary()
    assert second.without_key(first.primary_id).ids == (second.primary_id,)
    with pytest.raises(KeyringError, match="primary"):
        second.without_key(second.primary_id)
    with pytest.raises(UnknownKeyError):
        second.without_key("k-19990101-000000")


def test_keyring_is_immutable() -> None:
    keyring = Keyring.generate()
    with pytest.raises(AttributeError):
        keyring.extra = 1  # type: ignore[attr-defined]
