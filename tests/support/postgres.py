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


class PostgresServer:
    """One initialised cluster whose server a test can stop and start again (an outage)."""

    def __init__(self, bindir: Path, base: Path, port: int, user: tuple[int, int] | None) -> None:
        self.bindir = bindir
        self.base = base
        self.port = port
        self._user = user
        self._log = base / "log"
        self._server: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        uid, gid = self._user or (None, None)
        with self._log.open("ab") as log_handle:
            self._server = subprocess.Popen(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(self.base / "data"),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.base),
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
                extra_groups=[] if uid is not None else None,
            )
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            if self._server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {self._log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open sessions are terminated, as when a server goes down."""
        server, self._server = self._server, None
        if server is None:
            return
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[PostgresServer, str]]:
    """A fresh cluster, running: the server handle and the ``postgresql://`` URL."""
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
    user: tuple[int, int] | None = None
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(base, entry.pw_uid, entry.pw_gid)
        user = (entry.pw_uid, entry.pw_gid)
    port = _free_port()
    password = "dokportal-test"
    pwfile = base / "pw"
    pwfile.write_text(password)
    if user is not None:
        os.chown(pwfile, user[0], -1)
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
        user=user[0] if user else None,
        group=user[1] if user else None,
        extra_groups=[] if user else None,
    )
    server = PostgresServer(bindir, base, port, user)
    try:
        server.start()
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
        yield server, f"postgresql://dokportal:{password}@127.0.0.1:{port}/dokportal"
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Yield a ``postgresql://`` URL of a fresh cluster; stop and remove it afterwards."""
    with postgres_server() as (_, url):
        yield url


def fresh_database(url: str) -> str:
    """A new, empty database on the server of ``url``, for tests whose process must not see
    the rows (and wrapped keys) other tests left in the shared one; its URL."""
    import asyncio
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg

    name = f"fresh_{secrets.token_hex(6)}"

    async def create() -> None:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
