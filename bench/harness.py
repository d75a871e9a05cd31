"""Shared machinery for `make bench`: interleaved rounds, statistics, results, machine facts.

Every benchmark runs its contenders A B C, A B C, … in one process on the same machine, so a
slow moment hits all of them alike, and reports medians with the interquartile spread plus
ratios between contenders. Nothing here asserts a time: benchmarks inform, tests decide.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Stat:
    median: float
    p25: float
    p75: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "p25": self.p25, "p75": self.p75, "n": self.n}


def stat(samples: list[float]) -> Stat:
    ordered = sorted(samples)
    if len(ordered) < 2:
        return Stat(ordered[0], ordered[0], ordered[0], len(ordered))
    quartiles = statistics.quantiles(ordered, n=4, method="inclusive")
    return Stat(statistics.median(ordered), quartiles[0], quartiles[2], len(ordered))


def interleave(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each contender once per round, rotating the order; each returns seconds.

    Every run starts with no dirty pages (``os.sync()``, untimed): a contender that does not
    fsync (copyparty) otherwise leaves hundreds of MB for the kernel to write back during
    the next contender's run, and that one's fsync waits behind them.
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            os.sync()
            samples[name].append(contenders[name]())
    return samples


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def curl(*args: str) -> str:
    return subprocess.run(
        ["curl", "-sS", "--fail-with-body", *args], check=True, capture_output=True, text=True
    ).stdout


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {}
    for package in ("litestar", "uvicorn", "piccolo", "cryptography", "copyparty", "boto3"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo) / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
        "load_average_at_start": os.getloadavg(),
    }


def save(name: str, data: dict[str, object]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=str))
    return path


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's resident-set high-water mark since it started."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
