"""Servers for the benchmarks, each a real process on 127.0.0.1, stopped afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.harness import ROOT, curl
from tests.support.appliance import free_port

CSRF = re.compile(r'name="_csrf" value="([0-9a-f]+)"')
BIN = Path(sys.executable).parent
PASSWORD = "Sonnenblume-2026"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    env: dict[str, str]


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.05)


@contextmanager
def portal(workdir: Path, **env: str) -> Iterator[Server]:
    """bench/serve_portal.py with DOKPORTAL_* from ``env`` (keys without the prefix)."""
    workdir.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DOKPORTAL_")}
    # The 200 MB benchmark file is over the 20 MB default limit.
    # 16 concurrent uploads come from one address here: lift the per-client limit.
    env = {"upload__max_file_mb": "256", "server__max_uploads_per_client": "64", **env}
    full_env.update({f"DOKPORTAL_{k.upper()}": v for k, v in env.items()})
    full_env["PYTHONPATH"] = str(ROOT)
    port = free_port()
    log = (workdir / "server.log").open("wb")  # warnings and errors only: read it on failures
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "serve_portal.py"), str(port)],
        cwd=workdir,
        env=full_env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/healthz", process)
        yield Server(url=url, process=process, workdir=workdir, env=full_env)
    finally:
        stop(process)
        log.close()


@contextmanager
def copyparty(share: Path) -> Iterator[str]:
    """copyparty (the peer): a fast Python upload server writing plain files."""
    share.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            str(BIN / "copyparty"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-v",
            f"{share}::A",
            "-q",
            "--no-thumb",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def dokportal_cli(server: Server, *args: str) -> str:
    return subprocess.run(
        [str(BIN / "dokportal"), *args],
        cwd=server.workdir,
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def signed_in_customer(server: Server, number: str, jar: Path) -> str:
    """Create and activate a customer; return a CSRF token valid for ``jar``'s cookies."""
    output = dokportal_cli(server, "customer", "create", "--number", number, "--name", "Bench")
    code = output.rsplit(":", 1)[1].strip()
    token = csrf(curl("-c", str(jar), "-b", str(jar), f"{server.url}/activate"))
    curl(
        "-c",
        str(jar),
        "-b",
        str(jar),
        "-o",
        "/dev/null",
        "-d",
        f"_csrf={token}",
        "-d",
        f"customer_number={number}",
        "-d",
        f"code={code}",
        "-d",
        f"password={PASSWORD}",
        "-d",
        f"password_repeat={PASSWORD}",
        f"{server.url}/activate",
    )
    return csrf(curl("-b", str(jar), f"{server.url}/documents/new"))


def csrf(page: str) -> str:
    match = CSRF.search(page)
    if not match:
        raise RuntimeError("no CSRF field on the page")
    return match.group(1)
