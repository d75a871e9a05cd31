"""``dokportal run`` as a real process: the embedded appliance `make run` starts."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CODE_RE = re.compile(r"Activation code:\s+([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})")
DOKPORTAL = str(Path(sys.executable).with_name("dokportal"))


@dataclass
class Appliance:
    url: str
    workdir: Path
    output: str
    process: subprocess.Popen[str]

    @property
    def activation_code(self) -> str | None:
        match = CODE_RE.search(self.output)
        return match.group(1) if match else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOKPORTAL_")}
    env["TMPDIR"] = str(workdir / "tmp")
    (workdir / "tmp").mkdir(exist_ok=True)
    return env


@contextmanager
def running_appliance(
    workdir: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> Iterator[Appliance]:
    """Start ``dokportal run`` in ``workdir``; wait until it serves; stop it afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [DOKPORTAL, "run", "--port", str(port)],
        cwd=workdir,
        env={**clean_env(workdir), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while "is running at" not in "".join(lines):
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise RuntimeError("dokportal run exited:\n" + "".join(lines))
        lines.append(line)
        if time.monotonic() > deadline:
            raise TimeoutError("".join(lines))
    url = f"http://127.0.0.1:{port}"
    while True:  # the banner precedes the server's bind: poll readiness
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not become ready:\n" + "".join(lines))
        time.sleep(0.05)
    appliance = Appliance(url=url, workdir=workdir, output="".join(lines), process=process)
    try:
        yield appliance
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stdout:
            process.stdout.close()


def cli(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOKPORTAL, *args],
        cwd=workdir,
        env={**clean_env(workdir), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
