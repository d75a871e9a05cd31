"""The chart's volume layout as real processes: `migrate`, then `serve`, must become ready.

In a pod with ``storage.kind=folder`` the volume is mounted at /data and the blobs go to
/data/blobs, a folder nobody creates by hand. Only `dokportal run` used to create it, so a
Portal on a fresh volume stayed unready for ever ("blob folder /data/blobs does not exist").
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.appliance import DOKPORTAL, clean_env, cli, free_port
from tests.support.postgres import fresh_database


def pod_env(root: Path) -> dict[str, str]:
    """What charts/portal sets for SQLite + folder storage, with /data moved below `root`."""
    data = root / "data"
    return {
        "DOKPORTAL_STORAGE__KIND": "folder",
        "DOKPORTAL_STORAGE__FOLDER": str(data / "blobs"),
        "DOKPORTAL_DATABASE_URL": f"sqlite:///{data}/dokportal.sqlite3",
        "DOKPORTAL_KEYRING_PATH": str(root / "keyring" / "keyring.json"),
        "DOKPORTAL_SESSION_SECRET": "s" * 40,
        "DOKPORTAL_MAIL__FOLDER": str(data / "mail"),
    }


@contextmanager
def serving(root: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [DOKPORTAL, "serve", "--port", str(port)],
        cwd=root,
        env={**clean_env(root), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def readiness(url: str, within: float = 30) -> httpx.Response:
    """The first 200 from /readyz, or its last answer `within` seconds after the server is up."""
    deadline = time.monotonic() + 60
    while True:  # up: liveness answers (start-up takes seconds on a busy machine)
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "serve never answered"
        time.sleep(0.1)
    deadline = time.monotonic() + within
    while (answer := httpx.get(f"{url}/readyz", timeout=5)).status_code != 200:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return answer


@pytest.fixture(params=["sqlite", "postgresql"])
def volume(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The volume of a pod with folder storage; the database on it (SQLite) or elsewhere."""
    env = pod_env(tmp_path)
    if request.param == "postgresql":
        # Its own database: the shared one holds other tests' rows, wrapped with keys this
        # volume's keyring does not have, and /readyz rightly reports those as missing.
        env["DOKPORTAL_DATABASE_URL"] = fresh_database(request.getfixturevalue("postgres_url"))
    (tmp_path / "data").mkdir()  # the mounted, empty volume
    made = cli(tmp_path, "keys", "init", env=env)  # the keyring Secret, mounted read-only
    assert made.returncode == 0, made.stderr
    return tmp_path, env


@pytest.mark.timeout(120)
def test_migrate_then_serve_on_a_fresh_volume_becomes_ready(
    volume: tuple[Path, dict[str, str]],
) -> None:
    root, env = volume
    migrated = cli(root, "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert (root / "data" / "blobs").is_dir()
    assert (root / "data" / "blobs").stat().st_mode & 0o777 == 0o700
    with serving(root, env) as url:
        answer = readiness(url)
        assert answer.status_code == 200, answer.text


@pytest.mark.timeout(120)
def test_serve_alone_creates_the_blob_folder_but_never_the_mount(
    volume: tuple[Path, dict[str, str]],
) -> None:
    root, env = volume
    # The schema is there (a pod is ready only on a migrated database), but the migration
    # ran with another folder: the blob folder is serve's to create.
    migrated = cli(root, "migrate", env={**env, "DOKPORTAL_STORAGE__FOLDER": str(root / "m")})
    assert migrated.returncode == 0, migrated.stderr
    assert not (root / "data" / "blobs").exists()
    with serving(root, env) as url:
        assert readiness(url).status_code == 200
    assert (root / "data" / "blobs").is_dir()

    # A volume that failed to mount: no folder tree appears in its place, and not ready.
    env["DOKPORTAL_STORAGE__FOLDER"] = str(root / "unmounted" / "blobs")
    with serving(root, env) as url:
        answer = readiness(url, within=1)
        assert answer.status_code == 503 and "does not exist" in answer.text
    assert not (root / "unmounted").exists()
