"""A real clamd (Debian's clamav-daemon) on a unix socket in a temporary folder.

freshclam cannot reach the internet here, so the daemon gets a signature database made in
the test: an ``.ndb`` with the EICAR test string and a marker of our own. clamd starts with
only that (checked: ``Loaded 2 signatures``); without the official main.cvd it would not know
EICAR, hence the signature of our own for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
MARKER = b"dokportal-test-virus-marker-5b1e"
EICAR_SIGNATURE = "Dokportal.Test.EICAR.UNOFFICIAL"
MARKER_SIGNATURE = "Dokportal.Test.Marker.UNOFFICIAL"
START_SECONDS = 60


def find_clamd() -> str | None:
    return shutil.which("clamd") or (
        "/usr/sbin/clamd" if Path("/usr/sbin/clamd").exists() else None
    )


def infected_pdf(pdf: bytes, payload: bytes = EICAR) -> bytes:
    """A valid PDF with the test string in a comment after its end: still opens, and
    a scanner that looks at every byte finds it."""
    return pdf + b"\n%" + payload + b"\n"


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a killed pytest takes clamd along


def ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"zPING\0")
            return sock.recv(16) == b"PONG\0"
    except OSError:
        return False


@dataclass
class Clamd:
    """One clamd; ``stop`` and ``start`` let a test take it down and bring it back."""

    folder: Path
    stream_max: str = "30M"
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.folder / "clamd.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def write_config(self) -> Path:
        database = self.folder / "db"
        database.mkdir(exist_ok=True)
        (database / "dokportal-test.ndb").write_text(
            f"Dokportal.Test.EICAR:0:*:{EICAR.hex()}\nDokportal.Test.Marker:0:*:{MARKER.hex()}\n"
        )
        config = self.folder / "clamd.conf"
        config.write_text(
            "\n".join(
                [
                    f"DatabaseDirectory {database}",
                    f"LocalSocket {self.socket_path}",
                    f"LogFile {self.folder / 'clamd.log'}",
                    f"PidFile {self.folder / 'clamd.pid'}",
                    f"TemporaryDirectory {self.folder}",
                    "Foreground yes",
                    f"StreamMaxLength {self.stream_max}",
                    "SelfCheck 0",
                    "",
                ]
            )
        )
        return config

    def start(self) -> None:
        binary = find_clamd()
        assert binary is not None
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [binary, f"--config-file={self.write_config()}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + START_SECONDS
        while not ping(self.socket_path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "clamd.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"clamd did not start:\n{log}")
            time.sleep(0.05)  # polling for readiness (PING/PONG), not standing in for it

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None
        self.socket_path.unlink(missing_ok=True)


@contextlib.contextmanager
def running_clamd(stream_max: str = "30M") -> Iterator[Clamd]:
    folder = Path(tempfile.mkdtemp(prefix="dokportal-clamd-"))
    server = Clamd(folder, stream_max)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
