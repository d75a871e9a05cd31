"""A throwaway PostgreSQL cluster from Debian's packages, on a free 127.0.0.1 port.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
unprivileged ``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def find_bindir() -> Path | None:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return candidates[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _die_with_parent() -> None:
    """If pytest is killed, the kernel stops the server too (set after the uid change)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Yield a ``postgresql://`` URL of a fresh cluster; stop and remove it afterwards."""
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb) not found")
    base = Path(
        tempfile.mkdtemp(
            prefix="dokportal-pg-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None
        )
    )
    data = base / "data"
    # As root, run the binaries directly as the postgres user (no runuser in between), so
    # the server is our own child and can be told to die with us (PR_SET_PDEATHSIG).
    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        uid, gid, groups = user.pw_uid, user.pw_gid, []
    port = _free_port()
    password = "dokportal-test"
    pwfile = base / "pw"
    pwfile.write_text(password)
    if uid is not None:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "dokportal",
            "--pwfile",
            str(pwfile),
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        user=uid,
        group=gid,
        extra_groups=groups,
    )
    log = base / "log"
    log_handle = log.open("wb")
    server = subprocess.Popen(
        [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log_handle,
        start_new_session=True,
        preexec_fn=_die_with_parent,
        user=uid,
        group=gid,
        extra_groups=groups,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], check=False
            )
            if ready.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run(
            [
                str(bindir / "createdb") if (bindir / "createdb").exists() else "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "dokportal",
                "dokportal",
            ],
            check=True,
            env=env,
        )
        yield f"postgresql://dokportal:{password}@127.0.0.1:{port}/dokportal"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
        log_handle.close()
        shutil.rmtree(base, ignore_errors=True)
