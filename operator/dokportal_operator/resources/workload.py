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
