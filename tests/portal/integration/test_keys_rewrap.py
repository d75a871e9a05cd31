"""`dokportal keys rewrap`: after a rotation every stored data key is under the new primary,
blobs untouched, old keys can go; running it again changes nothing."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from dokportal.crypto import Keyring, blob_aad, new_data_key, unwrap_data_key, wrap_data_key
from dokportal.crypto.envelope import WrappedKey
from dokportal.files.tables import StoredFile
from dokportal.settings import Settings
from dokportal.wrapped_secrets import rewrap_all
from tests.portal.conftest import PortalClient
from tests.support import documents
from tests.support.appliance import cli


async def _store(keyring: Keyring, tenant: str, blob_id: str) -> bytes:
    data_key = new_data_key()
    wrapped = wrap_data_key(keyring, data_key, aad=blob_aad(tenant, blob_id))
    await StoredFile(
        blob_id=blob_id,
        key_id=wrapped.key_id,
        wrapped_key=base64.b64encode(wrapped.wrapped).decode(),
        size=1,
        sha256="0" * 64,
        content_type="application/pdf",
        display_name="scan.pdf",
    ).save()
    return data_key


async def test_rewrap_moves_every_key_to_the_primary(
    client: PortalClient, settings: Settings
) -> None:
    tenant = settings.tenant.slug
    old = Keyring.generate()
    keys = {f"blob-{n}": await _store(old, tenant, f"blob-{n}") for n in range(3)}
    rotated = old.with_new_primary()

    files, _ = await rewrap_all(rotated, tenant)
    assert (files.examined, files.rewrapped) == (3, 3)
    assert sum(count.rewrapped for count in await rewrap_all(rotated, tenant)) == 0  # idempotent

    retired = rotated.without_key(old.primary_id)
    for row in await StoredFile.objects():
        assert row.key_id == rotated.primary_id
        wrapped = WrappedKey(row.key_id, base64.b64decode(row.wrapped_key))
        assert (
            unwrap_data_key(retired, wrapped, aad=blob_aad(tenant, row.blob_id))
            == (keys[row.blob_id])
        )


async def test_rewrap_refuses_a_keyring_missing_the_old_key(
    client: PortalClient, settings: Settings
) -> None:
    old = Keyring.generate()
    await _store(old, settings.tenant.slug, "blob-x")
    stranger = Keyring.generate()
    with pytest.raises(Exception, match="not in the keyring"):
        await rewrap_all(stranger, settings.tenant.slug)
    row = await StoredFile.objects().first()
    assert row is not None and row.key_id == old.primary_id  # untouched


def test_cli_command(tmp_path: Path) -> None:
    """The command the operator's rewrap Job runs, end to end on SQLite."""
    assert cli(tmp_path, "keys", "init").returncode == 0
    assert cli(tmp_path, "migrate").returncode == 0
    made = cli(tmp_path, "customer", "create", "--number", "123D000009", "--name", "Test")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "var" / "blobs").is_dir()  # migrate made it
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(documents.pdf())
    sent = cli(tmp_path, "notice", "send", "--customer", "123D000009", str(letter))
    assert sent.returncode == 0, sent.stderr

    keyring_path = tmp_path / "var" / "keyring.json"
    rotated = Keyring.load(keyring_path).with_new_primary()
    rotated.save(keyring_path)
    first = cli(tmp_path, "keys", "rewrap")
    assert first.returncode == 0, first.stderr
    assert f"stored files: examined 1, rewrapped 1 to key {rotated.primary_id}" in first.stdout
    again = cli(tmp_path, "keys", "rewrap")
    assert "stored files: examined 1, rewrapped 0" in again.stdout
    with sqlite3.connect(tmp_path / "var" / "dokportal.sqlite3") as connection:
        ids = {row[0] for row in connection.execute("SELECT key_id FROM stored_file")}
    assert ids == {rotated.primary_id}


async def test_a_rewrap_killed_half_way_converges_when_run_again(
    client: PortalClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files and staff TOTP secrets alike; the second run finishes exactly the rest."""
    from dokportal import wrapped_secrets
    from dokportal.staff import totp
    from dokportal.staff.tables import StaffAccount
    from tests.portal.integration.staff.conftest import make_staff

    tenant = settings.tenant.slug
    old = Keyring.load(settings.keyring_path)
    keys = {f"blob-{n}": await _store(old, tenant, f"blob-{n}") for n in range(3)}
    secrets = {}
    for name in ("anna", "bert"):
        secrets[name] = (await make_staff(settings, name, "admin", None)).secret
    rotated = old.with_new_primary()

    from dokportal.crypto import rewrap as real

    calls = 0

    def dies_on_the_third(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt  # the Job's pod is killed
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(wrapped_secrets, "rewrap", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        await rewrap_all(rotated, tenant)
    monkeypatch.setattr(wrapped_secrets, "rewrap", real)
    half = {row.key_id for row in await StoredFile.objects()}
    assert half == {old.primary_id, rotated.primary_id}

    files, staff = await rewrap_all(rotated, tenant)
    assert (files.examined, files.rewrapped) == (3, 1)
    assert (staff.examined, staff.rewrapped) == (2, 2)

    retired = rotated.without_key(old.primary_id)
    for row in await StoredFile.objects():
        wrapped = WrappedKey(row.key_id, base64.b64decode(row.wrapped_key))
        assert (
            unwrap_data_key(retired, wrapped, aad=blob_aad(tenant, row.blob_id))
            == (keys[row.blob_id])
        )
    for account in await StaffAccount.objects():
        assert account.totp_key_id == retired.primary_id
        secret = totp.unwrap(
            retired, account.totp_key_id, account.totp_wrapped, tenant, account.username
        )
        assert secret == secrets[account.username]
