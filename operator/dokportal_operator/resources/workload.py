"""The portal itself, rendered from charts/portal and applied in order:

1. everything but Jobs and the Deployment (config, Service, Ingress, policies, PDB);
2. the migration Job — the Deployment is only updated once it succeeded;
3. the Deployment;
4. during a key rotation, once every pod runs with the new primary: the rewrap Job, and when it
   succeeded, the retiring keys go;
5. whatever the chart no longer renders is pruned.

Jobs are created, never re-applied (their pod template is immutable); they are named after
what they do (image, key id), so a new need gets a new Job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dokportal_operator import constants as c
from dokportal_operator import render
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman
from dokportal_operator.kube import WORKLOAD_KINDS, Obj, Ref
from dokportal_operator.resources import keys
from dokportal_operator.spec import PortalSpec


@dataclass(frozen=True)
class WorkloadState:
    condition: Condition
    waiting: Condition | None
    replicas: str
    again: bool = False  # state changed in a way that needs another pass at once


def job_state(job: Obj) -> str:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in {"Complete", "Failed"}:
            return str(cond["type"])
    return "Running"


def rollout(deployment: Obj, desired: int) -> tuple[bool, bool, str]:
    """(available, rolled out completely, "ready/desired")."""
    meta = deployment.get("metadata") or {}
    status: dict[str, Any] = deployment.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    available = any(
        cond.get("type") == "Available" and cond.get("status") == "True"
        for cond in status.get("conditions") or []
    )
    done = (
        int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
        and int(status.get("updatedReplicas") or 0) == desired
        and int(status.get("replicas") or 0) == desired
        and int(status.get("availableReplicas") or 0) == desired
    )
    if desired == 0:
        available = done = int(status.get("replicas") or 0) == 0
    return available, done, f"{ready}/{desired}"


async def ensure(ctx: Context, spec: PortalSpec, facts: render.WorkloadFacts) -> WorkloadState:
    values = render.chart_values(spec, facts)
    rendered = await ctx.render_chart(spec.uid, spec.namespace, values)
    desired = render.workload(spec, rendered)
    selector = render.labels(spec, c.PART_WORKLOAD)
    live: dict[Ref, Obj] = {}
    for kind in WORKLOAD_KINDS:
        for obj in await ctx.kube.list(kind, spec.namespace, selector):
            live[Ref.of(obj)] = obj

    migrations = [obj for obj in desired if render.is_job(obj, c.MIGRATE_COMPONENT)]
    rewraps = [obj for obj in desired if render.is_job(obj, c.REWRAP_COMPONENT)]
    deployments = [obj for obj in desired if obj["kind"] == "Deployment"]
    jobs = {id(obj) for obj in migrations + rewraps}
    base = [obj for obj in desired if obj["kind"] != "Deployment" and id(obj) not in jobs]

    for obj in base:
        await ctx.ensure(spec.uid, obj, live.get(Ref.of(obj)))

    waiting: Condition | None = None
    for job in migrations:
        state = await _run_job(ctx, job, live)
        if state == "Failed":
            raise NeedsHuman(
                "MigrationFailed",
                f"Job {job['metadata']['name']} failed: see `kubectl -n {spec.namespace} logs "
                f"job/{job['metadata']['name']}`",
            )
        if state != "Complete":
            waiting = Condition(
                c.WORKLOAD_AVAILABLE,
                False,
                "MigrationRunning",
                f"waiting for the database migration Job {job['metadata']['name']}",
            )

    available, rolled_out, replicas = False, False, f"0/{spec.replicas}"
    for deployment in deployments:
        ref = Ref.of(deployment)
        current = live.get(ref)
        if waiting is None:  # a new version only starts after its migration
            current = await ctx.ensure(spec.uid, deployment, current)
            removals = foreign_additions(current, deployment)
            if removals:
                version = current["metadata"]["resourceVersion"]
                test = {"op": "test", "path": "/metadata/resourceVersion", "value": version}
                current = await ctx.kube.json_patch(ref, [test, *removals])
                ctx.applied.pop((spec.uid, ref), None)
        if current is not None:
            available, rolled_out, replicas = rollout(current, spec.replicas)
    if waiting is None and not rolled_out:
        waiting = Condition(
            c.WORKLOAD_AVAILABLE, False, "RollingOut", f"pods ready {replicas}, rolling out"
        )

    again = False
    if facts.rewrap and rolled_out:
        for job in rewraps:
            state = await _run_job(ctx, job, live)
            if state == "Failed":
                raise NeedsHuman(
                    "RewrapFailed",
                    f"Job {job['metadata']['name']} failed; the old keys are kept. Fix the cause "
                    "and delete the Job to run it again",
                )
            if state == "Complete":
                await keys.retire(ctx, spec)
                again = True
            else:
                waiting = Condition(
                    c.KEYS_READY,
                    True,
                    "RewrapRunning",
                    f"rewrapping data keys with {facts.primary_key_id} "
                    f"(Job {job['metadata']['name']})",
                )
    elif facts.rewrap and waiting is None:
        waiting = Condition(c.KEYS_READY, True, "RotationRollingOut", "pods load the new key")

    wanted = {Ref.of(obj) for obj in desired}
    for ref in live:
        if ref not in wanted:
            await ctx.kube.delete(ref)
            ctx.applied.pop((spec.uid, ref), None)

    if available:
        condition = Condition(c.WORKLOAD_AVAILABLE, True, "Available", f"pods ready {replicas}")
    elif waiting is not None and waiting.type == c.WORKLOAD_AVAILABLE:
        condition = waiting
    else:
        condition = Condition(c.WORKLOAD_AVAILABLE, False, "PodsNotReady", f"pods ready {replicas}")
    return WorkloadState(condition, waiting, replicas, again)


async def _run_job(ctx: Context, job: Obj, live: dict[Ref, Obj]) -> str:
    current = live.get(Ref.of(job))
    if current is None:
        current = await ctx.kube.create(job) or await ctx.kube.get(Ref.of(job))
    return job_state(current) if current else "Running"


def _names(items: Any) -> list[str]:
    return [str(item.get("name")) for item in items or [] if isinstance(item, dict)]


def foreign_additions(live: Obj, desired: Obj) -> list[Obj]:
    """JSON-patch removals of what someone added to a rendered pod template: containers, init
    containers, volumes, env vars, envFrom sources, volume mounts and securityContext fields
    the chart does not render. Server-side apply takes back fields we set, but leaves fields
    another field manager added — an extra env var or a sidecar would stay. Indices are
    removed from the end so earlier ones stay valid."""
    base = "/spec/template/spec"
    live_pod = ((live.get("spec") or {}).get("template") or {}).get("spec") or {}
    want_pod = ((desired.get("spec") or {}).get("template") or {}).get("spec") or {}
    removals: list[Obj] = []

    def extra_entries(path: str, have: Any, want: Any) -> None:
        wanted = set(_names(want))
        for index in reversed(range(len(have or []))):
            if str((have[index] or {}).get("name")) not in wanted:
                removals.append({"op": "remove", "path": f"{path}/{index}"})

    def extra_keys(path: str, have: Any, want: Any) -> None:
        for key in sorted(set(have or {}) - set(want or {})):
            removals.append({"op": "remove", "path": f"{path}/{key}"})

    extra_keys(
        f"{base}/securityContext", live_pod.get("securityContext"), want_pod.get("securityContext")
    )
    for field in ("containers", "initContainers"):
        have = live_pod.get(field) or []
        want = {item.get("name"): item for item in want_pod.get(field) or []}
        for index, container in enumerate(have):
            mine = want.get(container.get("name"))
            if mine is None:
                continue
            path = f"{base}/{field}/{index}"
            extra_entries(f"{path}/env", container.get("env"), mine.get("env"))
            extra_entries(
                f"{path}/volumeMounts", container.get("volumeMounts"), mine.get("volumeMounts")
            )
            if len(container.get("envFrom") or []) > len(mine.get("envFrom") or []):
                for extra in reversed(
                    range(len(mine.get("envFrom") or []), len(container["envFrom"]))
                ):
                    removals.append({"op": "remove", "path": f"{path}/envFrom/{extra}"})
            extra_keys(
                f"{path}/securityContext",
                container.get("securityContext"),
                mine.get("securityContext"),
            )
        # Whole containers last (their indices do not move the ones patched above: removals
        # inside a container come first in the list, by then no container was removed).
        extra_entries(f"{base}/{field}", have, want_pod.get(field))
    extra_entries(f"{base}/volumes", live_pod.get("volumes"), want_pod.get("volumes"))
    return removals
