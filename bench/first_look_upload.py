"""A first rough look (issue 2): a 20 MB upload through `dokportal run` (full stack:
session, CSRF, streaming multipart, sniffing, SHA-256, AES-256-GCM, folder store with fsync)
next to curl sending the same file to a plain copy-to-disk endpoint on the same uvicorn.

Runs both interleaved, several rounds, and prints medians and the ratio. Not a test.
Usage: .venv/bin/python bench/first_look_upload.py [rounds]
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.appliance import free_port, running_appliance  # noqa: E402
from tests.support.documents import padded_pdf  # noqa: E402

CSRF = re.compile(r'name="_csrf" value="([0-9a-f]+)"')


def curl(*args: str) -> str:
    return subprocess.run(["curl", "-sS", *args], check=True, capture_output=True, text=True).stdout


def csrf(page: str) -> str:
    match = CSRF.search(page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def main(rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="dokportal-bench-"))
    payload = work / "scan.pdf"
    payload.write_bytes(padded_pdf(20 * 1000 * 1000 + 9))  # a real PDF, random inside
    jar = str(work / "cookies")
    port = free_port()
    copy = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/plain_copy_server.py"), str(port)],
        env={**os.environ, "COPY_TARGET": str(work / "copy.bin")},
    )
    try:
        (work / "app").mkdir()
        with running_appliance(work / "app") as app:
            token = csrf(curl("-c", jar, "-b", jar, f"{app.url}/activate"))
            curl(
                "-c",
                jar,
                "-b",
                jar,
                "-o",
                "/dev/null",
                "-d",
                f"_csrf={token}",
                "-d",
                "customer_number=123D000001",
                "-d",
                f"code={app.activation_code}",
                "-d",
                "password=Sonnenblume-2026",
                "-d",
                "password_repeat=Sonnenblume-2026",
                f"{app.url}/activate",
            )
            portal, plain = [], []
            for _ in range(rounds):
                token = csrf(curl("-c", jar, "-b", jar, f"{app.url}/documents/new"))
                took = curl(
                    "-b",
                    jar,
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{time_total} %{http_code}",
                    "-F",
                    f"_csrf={token}",
                    "-F",
                    "category=payslip",
                    "-F",
                    f"files=@{payload};type=application/pdf",
                    f"{app.url}/documents",
                )
                seconds, code = took.split()
                assert code == "303", code
                portal.append(float(seconds))
                took = curl(
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{time_total}",
                    "--data-binary",
                    f"@{payload}",
                    f"http://127.0.0.1:{port}/",
                )
                plain.append(float(took))
    finally:
        copy.terminate()
        copy.wait()
    p, c = statistics.median(portal), statistics.median(plain)
    mb = payload.stat().st_size / 1e6
    print(f"20 MB upload, {rounds} rounds interleaved (median, min-max):")
    print(
        f"  dokportal full stack : {p:.3f} s  ({mb / p:.0f} MB/s)  [{min(portal):.3f}-{max(portal):.3f}]"
    )
    print(
        f"  plain copy + fsync   : {c:.3f} s  ({mb / c:.0f} MB/s)  [{min(plain):.3f}-{max(plain):.3f}]"
    )
    print(f"  ratio portal/plain   : {p / c:.2f}x the time")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
