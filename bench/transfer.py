"""Benchmarks 1 to 3 of issue 6: upload throughput, memory per upload, decrypting download.

1. One 20 MB and one 200 MB file sent by curl to (a) Dokportal's upload route (folder
   store with fsync), (b) the same with SeaweedFS S3, (c) copyparty, (d) a route of the same
   server that discards the body, (e) dd with conv=fdatasync; then 4 and 16 concurrent
   20 MB uploads against one.
2. Peak RSS of a fresh server process during a 1 MB and during a 200 MB upload.
3. Decrypting download of a 20 MB notice vs the same bytes as a plain static file.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.harness import curl, interleave, peak_rss_mib, stat
from bench.processes import Server, copyparty, dokportal_cli, portal, signed_in_customer
from tests.support.documents import padded_pdf_frame
from tests.support.seaweed import run_seaweed

MB = 1000 * 1000


def payload(path: Path, size: int) -> Path:
    """A real PDF (uploads are parsed before they are kept) whose one stream is random
    bytes (incompressible), written block by block."""
    start, length, end = padded_pdf_frame(size)
    with path.open("wb") as handle:
        handle.write(start)
        remaining = length
        while remaining > 0:
            block = os.urandom(min(remaining, 4 * MB))
            handle.write(block)
            remaining -= len(block)
        handle.write(end)
    return path


def curl_seconds(*args: str) -> float:
    return float(curl("-o", "/dev/null", "-w", "%{time_total}", *args))


def portal_upload(server: Server, jar: Path, token: str, file: Path) -> float:
    return curl_seconds(
        "-b",
        str(jar),
        "-F",
        f"_csrf={token}",
        "-F",
        "category=payslip",
        "-F",
        f"files=@{file};type=application/pdf",
        f"{server.url}/documents",
    )


def dd_seconds(source: Path, target: Path) -> float:
    result = subprocess.run(
        ["dd", f"if={source}", f"of={target}", "bs=1M", "conv=fdatasync"],
        check=True,
        capture_output=True,
        text=True,
    )
    # "… bytes (…) copied, 0.0412 s, 485 MB/s"
    return float(result.stderr.strip().splitlines()[-1].split(", ")[-2].split()[0])


def concurrent(n: int, command: list[str]) -> float:
    start = time.perf_counter()
    running = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(n)]
    for process in running:
        if process.wait() != 0:
            raise RuntimeError("a concurrent upload failed")
    return time.perf_counter() - start


def upload_throughput(work: Path, rounds_small: int, rounds_big: int) -> dict[str, object]:
    files = {
        "20MB": payload(work / "20mb.pdf", 20 * MB),
        "200MB": payload(work / "200mb.pdf", 200 * MB),
    }
    results: dict[str, object] = {}
    with run_seaweed(volume_size_limit_mb=1024) as s3:
        bucket = f"bench-{secrets.token_hex(4)}"
        s3.client().create_bucket(Bucket=bucket)
        s3_env = {
            "storage__kind": "s3",
            "storage__s3_endpoint": s3.endpoint_url,
            "storage__s3_bucket": bucket,
            "storage__s3_access_key": s3.access_key,
            "storage__s3_secret_key": s3.secret_key,
        }
        with (
            portal(work / "folder") as a,
            portal(work / "s3", **s3_env) as b,
            copyparty(work / "cp") as c,
        ):
            jar_a, jar_b = work / "jar-a", work / "jar-b"
            token_a = signed_in_customer(a, "900A000001", jar_a)
            token_b = signed_in_customer(b, "900B000001", jar_b)
            for label, file in files.items():
                rounds = rounds_small if label == "20MB" else rounds_big
                contenders: dict[str, Callable[[], float]] = {
                    "a_portal_folder": partial(portal_upload, a, jar_a, token_a, file),
                    "b_portal_s3": partial(portal_upload, b, jar_b, token_b, file),
                    "c_copyparty": partial(
                        curl_seconds, "-F", "act=bput", "-F", f"f=@{file}", f"{c}/"
                    ),
                    "d_stack_discard": partial(
                        curl_seconds,
                        "-b",
                        str(jar_a),
                        "-F",
                        f"_csrf={token_a}",
                        "-F",
                        f"files=@{file}",
                        f"{a.url}/bench/discard",
                    ),
                    "e_disk_dd": partial(dd_seconds, file, work / "dd.bin"),
                }
                samples = interleave(contenders, rounds)
                size_mb = file.stat().st_size / MB
                results[label] = {
                    name: {**stat(values).as_dict(), "mb_per_s": size_mb / stat(values).median}
                    for name, values in samples.items()
                }
            results["concurrency"] = concurrency(a, jar_a, token_a, files["20MB"])
    return results


def concurrency(server: Server, jar: Path, token: str, file: Path) -> dict[str, object]:
    """Aggregate throughput of N simultaneous 20 MB uploads, relative to one at a time."""
    single = stat([portal_upload(server, jar, token, file) for _ in range(3)]).median
    command = [
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-b",
        str(jar),
        "-F",
        f"_csrf={token}",
        "-F",
        "category=payslip",
        "-F",
        f"files=@{file};type=application/pdf",
        f"{server.url}/documents",
    ]
    figures: dict[str, object] = {"1": {"seconds": single, "aggregate_mb_per_s": 20 / single}}
    for n in (4, 16):
        seconds = concurrent(n, command)
        figures[str(n)] = {
            "seconds": seconds,
            "aggregate_mb_per_s": n * 20 / seconds,
            "vs_single": (n * 20 / seconds) / (20 / single),
        }
    return figures


def memory(work: Path) -> dict[str, object]:
    """Peak RSS of a fresh server for each upload size (median of two servers each)."""
    small = payload(work / "1mb.pdf", 1 * MB)
    big = (
        work / "200mb.pdf"
        if (work / "200mb.pdf").exists()
        else payload(work / "200mb.pdf", 200 * MB)
    )
    peaks: dict[str, list[float]] = {"1MB": [], "200MB": []}
    for attempt in range(2):
        for label, file in (("1MB", small), ("200MB", big)):
            with portal(work / f"mem-{label}-{attempt}") as server:
                jar = work / f"jar-mem-{label}-{attempt}"
                token = signed_in_customer(server, "900M000001", jar)
                portal_upload(server, jar, token, file)
                peaks[label].append(peak_rss_mib(server.process.pid))
    one, two = stat(peaks["1MB"]).median, stat(peaks["200MB"]).median
    return {"peak_rss_mib_1MB": one, "peak_rss_mib_200MB": two, "difference_mib": two - one}


def download(work: Path, rounds: int) -> dict[str, object]:
    with portal(work / "download") as server:
        jar = work / "jar-dl"
        signed_in_customer(server, "900D000001", jar)
        file = payload(work / "notice.pdf", 20 * MB)
        static = server.workdir / "var" / "bench-static"
        static.mkdir(parents=True, exist_ok=True)
        (static / "notice.pdf").write_bytes(file.read_bytes())
        output = dokportal_cli(
            server, "notice", "send", "--customer", "900D000001", "--title", "Bench", str(file)
        )
        notice_id = output.split()[1]
        samples = interleave(
            {
                "decrypting_download": lambda: curl_seconds(
                    "-b", str(jar), f"{server.url}/notices/{notice_id}/file"
                ),
                "static_file": lambda: curl_seconds(f"{server.url}/bench/static/notice.pdf"),
            },
            rounds,
        )
    return {
        name: {**stat(v).as_dict(), "mb_per_s": 20 / stat(v).median} for name, v in samples.items()
    }


def main(quick: bool = False) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="dokportal-bench-") as tmp:
        work = Path(tmp)
        return {
            "upload": upload_throughput(work, 3 if quick else 9, 1 if quick else 3),
            "memory": memory(work),
            "download": download(work, 3 if quick else 9),
        }
