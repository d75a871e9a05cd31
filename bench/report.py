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
        out += pages_section(pages)
    out += operator_section(operator)
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        out += ["", notes.read_text()]
    return "\n".join(out).rstrip() + "\n"


def _s(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f} s"


def _verbs(window: dict[str, Any] | None, portals: int) -> str:
    if not window:
        return "| not measured |" + " |" * 9
    verbs = window["by_verb"]
    cells = " | ".join(str(verbs.get(verb, 0)) for verb in OPERATOR_VERBS)
    return f"| {cells} | {window['requests']} | {window['requests'] / portals:.1f} | {window['writes']} |"


OPERATOR_VERBS = ("get", "list", "watch", "create", "patch", "update", "delete")


def operator_section(op: dict[str, Any] | None) -> list[str]:
    out = ["## 5. Operator", ""]
    if not op:
        return [*out, "Not measured yet: run `make bench-operator`.", ""]
    n = op["portals"]
    ready = op["seconds_to_ready_per_portal"]
    timer, poke = op.get("resync_timer"), op.get("resync_poke")
    proc = op["operator"]
    plane = op.get("control_plane_cpu_seconds_converging") or {}
    settings = op["settings"]
    versions = op.get("versions") or {}
    all_ready = op["seconds_until_all_ready"]
    out += [
        f"{n} Portals created at once (S3 on SeaweedFS, PostgreSQL by Secret, 2 replicas each — "
        "the Portal of the cluster tests) on the test control plane: etcd, kube-apiserver, "
        "kube-controller-manager, kube-scheduler and kwok with one fake node "
        f"({settings['node_pods']} pods), all with default settings; the operator runs as a process "
        "with its chart's RBAC, default retry interval "
        f"({settings['retry_seconds']:.0f} s), resync every {settings['resync_seconds']:.0f} s "
        f"and bucket recheck every {settings.get('storage_recheck_seconds', 600):.0f} s (so the "
        "timer resync also checks every bucket again). "
        "Requests are counted in the API server's audit log (every request of the operator's "
        "identity, level Metadata). Load average at start: "
        + ", ".join(f"{x:.2f}" for x in op["machine"]["load_average_at_start"])
        + " (other engineers' test runs share the machine: absolute figures are noisy).",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| all {n} Ready (first create → last Ready) | **{_s(all_ready)}**"
        + ("" if op["converged"] else f" (only {op['ready']} Ready in time)")
        + " | < 60 s |",
        f"| per Portal, create → first Ready: first / median / p95 | {_s(ready['first'])} / "
        f"{_s(ready['median'])} / {_s(ready['p95'])} | |",
        f"| operator API requests per Portal until all Ready | "
        f"{op['convergence']['per_portal']:.1f} ({op['convergence']['writes'] / n:.1f} writes) | |",
        f"| writes in a no-op resync of all {n} (resync timer) | "
        f"**{timer['writes'] if timer else '—'}**"
        + (f" ({timer['per_portal']:.0f} reads per Portal)" if timer else "")
        + " | 0 |",
        f"| writes in a no-op resync of all {n} (woken by a foreign annotation) | "
        f"**{poke['writes'] if poke else '—'}**" + " | 0 |",
        f"| operator peak RSS (VmHWM) | {proc['peak_rss_mib']:.0f} MiB "
        f"(before the Portals: {proc['rss_mib_before_portals']:.0f} MiB) | |",
        f"| operator CPU until all Ready | {proc['cpu_seconds_converging']:.1f} s "
        f"+ {proc['helm_cpu_seconds_converging']:.1f} s in `helm template` | |",
        "",
        f"Buckets: {op['distinct_buckets_in_status']} distinct names in the Portals' status, "
        f"{op['buckets_in_s3']} in SeaweedFS; {op['running_portal_pods']} portal pods Running.",
        "",
        "Requests of the operator by verb (audit log):",
        "",
        "| window | " + " | ".join(OPERATOR_VERBS) + " | all | per Portal | writes |",
        "|---|" + "---|" * (len(OPERATOR_VERBS) + 3),
        "| start-up (no Portals yet) " + _verbs(op["start_up"], n),
        "| creation until all Ready " + _verbs(op["convergence"], n),
        "| after all Ready, until 5 s without a write " + _verbs(op["settling_after_ready"], n),
        "| no-op resync (timer) " + _verbs(timer, n),
        "| no-op resync (annotation) " + _verbs(poke, n),
        "",
    ]
    if plane:
        out += [
            "CPU seconds used until all were Ready: "
            + ", ".join(f"{name} {seconds:.1f}" for name, seconds in plane.items())
            + f", operator {proc['cpu_seconds_converging']:.1f} "
            f"(+ helm {proc['helm_cpu_seconds_converging']:.1f}).",
            "",
        ]
    if versions:
        out += ["Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", ""]
    notes = ROOT / "bench" / "operator-notes.md"
    if notes.exists():
        out += [notes.read_text().strip(), ""]
    return out


def write() -> Path:
    path = ROOT / "docs" / "benchmarks.md"
    path.write_text(render())
    return path


def pages_section(pages: dict[str, Any]) -> list[str]:
    out = [
        "## 4. Pages under load",
        "",
        "200 customers, each: sign in, start page, inbox (50 notices), list (50 submissions), "
        "upload form, upload 1 MB, sign out. Two scenarios on the same server:",
        "",
        "- **customers** (the target's scenario): they arrive over 20 s, so all 200 are on the "
        "portal at once at the peak, and read each page for 1–3 s before the next click "
        "(seeded, the same clicks in every run);",
        "- **stampede** (capacity): all 200 at the same instant, no pause at all; the latency "
        "is mostly queueing, the figure to read is the rate.",
        "",
        "| database | scenario | kind | n | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    summaries = []
    for database in ("sqlite", "postgresql"):
        result = pages.get(database)
        if not isinstance(result, dict):
            continue
        for scenario in ("customers", "stampede"):
            run = result.get(scenario)
            if not isinstance(run, dict):
                continue
            for kind in ("page", "signin", "upload", "signout"):
                if kind in run:
                    row = run[kind]
                    out.append(
                        f"| {database} | {scenario} | {kind} | {row['n']} | {row['p50_ms']:.0f} "
                        f"| {row['p95_ms']:.0f} | {row['p99_ms']:.0f} |"
                    )
            summaries.append(
                f"- {database}, {scenario}: {run['errors']} errors"
                + (f" ({', '.join(run['error_kinds'])})" if run["error_kinds"] else "")
                + f"; {run['requests']} requests in {run['wall_seconds']:.1f} s = "
                f"{run['requests_per_second']:.0f} requests/s; server CPU "
                f"{run['server_cpu_seconds']:.1f} s"
            )
    return [*out, "", *summaries, ""]
