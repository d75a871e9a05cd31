"""The real `dokportal` process and the keyring: never recreated beside data, private files,
a shared keyring refused (or allowed with a warning), a lost key reported by /readyz."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from dokportal.crypto import Keyring
from tests.support.appliance import DOKPORTAL, clean_env, cli, free_port, running_appliance


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start(
    workdir: Path, *args: str, env: dict[str, str] | None = None, port: int = 0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DOKPORTAL, *args, "--port", str(port or free_port())],
        cwd=workdir,
        env={**clean_env(workdir), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def refused(workdir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a command that must refuse to start: exit code 2 and its output."""
    process = start(workdir, *args, env=env)
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2, output
    return output


def wrapped_key_ids(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT totp_key_id FROM staff_account WHERE totp_wrapped != '' "
            "UNION SELECT key_id FROM stored_file"
        )
        return {row[0] for row in rows}


@pytest.mark.timeout(240)
def test_a_lost_keyring_is_not_replaced_beside_data(tmp_path: Path) -> None:
    var = tmp_path / "var"
    with running_appliance(tmp_path) as app:
        assert "Created a new keyring" in app.output
    keyring = var / "keyring.json"
    database = var / "dokportal.sqlite3"
    # Everything the appliance made is for its user only.
    assert mode(var) == 0o700
    assert mode(keyring) == 0o600
    assert mode(database) == 0o600
    assert mode(var / "session-secret") == 0o600
    for path in var.rglob("*"):
        assert not mode(path) & 0o077, path
    needed = wrapped_key_ids(database)  # the demo staff's TOTP secrets
    assert needed == {Keyring.load(keyring).primary_id}

    keyring.rename(tmp_path / "keyring.backup")
    for command in ("run", "serve"):
        output = refused(tmp_path, command)
        assert "does not exist" in output and next(iter(needed)) in output, output
        assert not keyring.exists()
    # Restored from the backup: starts again, nothing lost.
    (tmp_path / "keyring.backup").rename(keyring)
    with running_appliance(tmp_path) as app:
        assert "Created a new keyring" not in app.output


@pytest.mark.timeout(240)
def test_a_shared_keyring_is_refused_unless_allowed(tmp_path: Path) -> None:
    assert cli(tmp_path, "keys", "init").returncode == 0
    keyring = tmp_path / "var" / "keyring.json"
    assert mode(keyring) == 0o600
    keyring.chmod(0o644)
    output = refused(tmp_path, "run")
    assert "readable by others" in output and "DOKPORTAL_KEYRING_ALLOW_SHARED" in output
    keyring.chmod(0o640)
    assert "readable by its group" in refused(tmp_path, "run")
    allowed = {"DOKPORTAL_KEYRING_ALLOW_SHARED": "true"}
    with running_appliance(tmp_path, env=allowed) as app:
        assert httpx.get(f"{app.url}/readyz").status_code == 200
        assert "Created a new keyring" not in app.output
    assert mode(keyring) == 0o640  # the operator's choice, only warned about


@pytest.mark.timeout(240)
def test_readyz_names_keys_the_data_needs_but_the_keyring_lacks(tmp_path: Path) -> None:
    with running_appliance(tmp_path):
        pass
    keyring_path = tmp_path / "var" / "keyring.json"
    old = Keyring.load(keyring_path)
    # A wrong rotation: a new primary, and the old key dropped before any rewrap.
    rotated = old.with_new_primary()
    rotated.without_key(old.primary_id).save(keyring_path)
    port = free_port()
    process = start(tmp_path, "serve", port=port)
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        deadline = time.monotonic() + 60
        while True:  # poll until the server listens (as running_appliance does)
            try:
                ready = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert ready.status_code == 503
        assert ready.json()["keys_missing"] == old.primary_id
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"lacks key(s) {old.primary_id}" in output
