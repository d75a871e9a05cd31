"""Turn bench/results/*.json into docs/benchmarks.md: ratios first, absolute figures after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.harness import ROOT, load

TARGETS = """\
Targets (issue 6): encrypted upload at least as fast as copyparty (a/c ≥ 1.0); a/d ≥ 0.9;
peak-RSS difference between a 1 MB and a 200 MB upload < 16 MiB; p95 < 50 ms for page views
at 200 customers with zero errors; 100 Portals converged in < 60 s with zero writes on a
no-op resync."""


def _ratio(results: dict[str, Any], size: str, a: str, b: str) -> str:
    row = results["upload"][size]
    return f"{row[b]['median'] / row[a]['median']:.2f}"


def render() -> str:
    transfer = load("transfer")
    pages = load("pages")
    operator = load("operator")
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`); numbers from the last run.",
        "",
        TARGETS,
        "",
    ]
    machine = (transfer or pages or operator or {}).get("machine")
    if machine:
        out += [
            "## Machine",
            "",
            f"- {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, "
            f"Python {machine['python']}, kernel {machine['kernel']}",
            f"- versions: {', '.join(f'{k} {v}' for k, v in machine['versions'].items())}",
            f"- load average at start: {', '.join(f'{x:.2f}' for x in machine['load_average_at_start'])}",
            "",
        ]
    if transfer:
        out += [
            "## 1. Upload throughput",
            "",
            "Ratios are throughput of the first over the second (higher is better for Dokportal).",
            "",
            "| file | a/c (vs copyparty) | a/d (vs stack ceiling) | a/e (vs disk) | b/a (S3 vs folder) |",
            "|---|---|---|---|---|",
        ]
        for size in ("20MB", "200MB"):
            out.append(
                f"| {size} | {_ratio(transfer, size, 'a_portal_folder', 'c_copyparty')} "
                f"| {_ratio(transfer, size, 'a_portal_folder', 'd_stack_discard')} "
                f"| {_ratio(transfer, size, 'a_portal_folder', 'e_disk_dd')} "
                f"| {_ratio(transfer, size, 'b_portal_s3', 'a_portal_folder')} |"
            )
        out += [
            "",
            "| file | contender | median s | p25–p75 s | MB/s | rounds |",
            "|---|---|---|---|---|---|",
        ]
        for size in ("20MB", "200MB"):
            for name, row in transfer["upload"][size].items():
                out.append(
                    f"| {size} | {name} | {row['median']:.3f} | {row['p25']:.3f}–{row['p75']:.3f} "
                    f"| {row['mb_per_s']:.0f} | {row['n']} |"
                )
        conc = transfer["upload"]["concurrency"]
        out += [
            "",
            "Concurrent 20 MB uploads to (a): "
            + "; ".join(
                f"{n}× → {conc[n]['aggregate_mb_per_s']:.0f} MB/s aggregate"
                + (
                    f" ({conc[n]['vs_single']:.2f}× one at a time)"
                    if "vs_single" in conc[n]
                    else ""
                )
                for n in ("1", "4", "16")
            ),
            "",
        ]
        mem = transfer["memory"]
        out += [
            "## 2. Memory",
            "",
            f"Peak RSS of a fresh server: {mem['peak_rss_mib_1MB']:.1f} MiB with a 1 MB upload, "
            f"{mem['peak_rss_mib_200MB']:.1f} MiB with a 200 MB upload: difference "
            f"**{mem['difference_mib']:.1f} MiB**.",
            "",
        ]
        dl = transfer["download"]
        out += ["## 3. Download", "", "| contender | median s | MB/s |", "|---|---|---|"]
        out += [f"| {k} | {v['median']:.3f} | {v['mb_per_s']:.0f} |" for k, v in dl.items()]
        out += [
            "",
            f"Decrypting download / static file time: "
            f"**{dl['decrypting_download']['median'] / dl['static_file']['median']:.2f}×**",
            "",
        ]
    if pages:
        out += [
            "## 4. Pages under load",
            "",
            "200 customers at once: sign in, start page, inbox (50 notices), "
            "list (50 submissions), upload form, upload 1 MB, sign out.",
            "",
            "| database | kind | n | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|---|---|",
        ]
        for database in ("sqlite", "postgresql"):
            result = pages.get(database)
            if not isinstance(result, dict):
                continue
            for kind in ("page", "signin", "upload", "signout"):
                if kind in result:
                    row = result[kind]
                    out.append(
                        f"| {database} | {kind} | {row['n']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} "
                        f"| {row['p99_ms']:.0f} |"
                    )
        for database in ("sqlite", "postgresql"):
            result = pages.get(database)
            if isinstance(result, dict):
                out.append(
                    f"\n{database}: {result['errors']} errors, whole run {result['wall_seconds']:.1f} s. "
                    f"{', '.join(result['error_kinds'])}"
                )
        out.append("")
    out += ["## 5. Operator", ""]
    out += [
        "Not measured yet: the operator benchmark needs the operator (issue 3)."
        if not operator
        else ""
    ]
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        out += ["", notes.read_text()]
    return "\n".join(out).rstrip() + "\n"


def write() -> Path:
    path = ROOT / "docs" / "benchmarks.md"
    path.write_text(render())
    return path
