"""One level-based pass over a Portal: bring every part to the desired state, then report.

Each step is idempotent, so a pass can be interrupted anywhere (operator restart) and the next
one continues. Steps that wait raise `Waiting`; problems only a person can fix raise
`NeedsHuman`; both become conditions instead of tearing anything down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dokportal_operator import conditions, render
from dokportal_operator import constants as c
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context, Logger
from dokportal_operator.errors import NeedsHuman, Waiting
from dokportal_operator.kube import Ref
from dokportal_operator.resources import database, keys, namespace, storage, workload
from dokportal_operator.spec import PortalSpec, parse


@dataclass(frozen=True)
class Outcome:
    """When to look again (seconds), at the latest."""

    delay: float
    settled: bool  # nothing to wait for and nothing for a person to fix
    waiting: bool = False  # for something that settles by itself (a Job, a rollout)


async def reconcile(ctx: Context, body: dict[str, Any], logger: Logger) -> Outcome:
    spec = parse(body, ctx.settings.namespace)
    now = datetime.now(UTC)
    parts: dict[str, Condition] = {}
    waiting: list[Condition] = []
    stalled: list[Condition] = []
    key_state: keys.KeyState | None = None
    bucket = render.bucket_name(spec)
    replicas = f"0/{spec.replicas}"
    again = False

    def trouble(kind: str, error: Waiting | NeedsHuman) -> None:
        cond = Condition(kind, False, error.reason, error.message)
        parts[kind] = cond
        (stalled if isinstance(error, NeedsHuman) else waiting).append(cond)

    try:
        await namespace.ensure(ctx, spec)
    except Waiting as error:
        waiting.append(Condition(c.RECONCILING, True, error.reason, error.message))
        await _report(ctx, body, spec, parts, waiting, stalled, None, bucket, replicas, logger)
        return Outcome(ctx.settings.retry_seconds, False, waiting=True)

    try:
        key_state = await keys.ensure(ctx, spec, now)
        parts[c.KEYS_READY] = keys.condition(key_state)
    except (Waiting, NeedsHuman) as error:
        trouble(c.KEYS_READY, error)
    try:
        parts[c.STORAGE_READY] = (await storage.ensure(ctx, spec)).condition
    except (Waiting, NeedsHuman) as error:
        trouble(c.STORAGE_READY, error)
    try:
        parts[c.DATABASE_READY] = await database.ensure(ctx, spec)
    except (Waiting, NeedsHuman) as error:
        trouble(c.DATABASE_READY, error)

    if key_state is not None and not waiting and not stalled:
        facts = render.WorkloadFacts(bucket, key_state.primary, rewrap=bool(key_state.retiring))
        try:
            state = await workload.ensure(ctx, spec, facts)
            parts[c.WORKLOAD_AVAILABLE] = state.condition
            replicas = state.replicas
            again = state.again
            if state.waiting is not None:
                waiting.append(state.waiting)
        except (Waiting, NeedsHuman) as error:
            trouble(c.WORKLOAD_AVAILABLE, error)
    else:
        # Nothing is torn down: the workload keeps running with what it had.
        parts[c.WORKLOAD_AVAILABLE] = await _observed_workload(ctx, spec)

    await _report(ctx, body, spec, parts, waiting, stalled, key_state, bucket, replicas, logger)
    if again:
        return Outcome(0.0, False)
    if waiting:
        return Outcome(ctx.settings.retry_seconds, False, waiting=True)
    delay = ctx.settings.resync_seconds
    if key_state is not None:
        due_in = (key_state.next_rotation(spec.rotation_days) - now).total_seconds()
        delay = max(1.0, min(delay, due_in))
    return Outcome(delay, not stalled)


async def _observed_workload(ctx: Context, spec: PortalSpec) -> Condition:
    """WorkloadAvailable from what runs, when this pass did not touch the workload."""
    deployment = await ctx.kube.get(Ref("Deployment", c.RELEASE, spec.namespace))
    if deployment is None:
        return Condition(c.WORKLOAD_AVAILABLE, False, "NotDeployed", "waiting for the other parts")
    available, _, replicas = workload.rollout(deployment, spec.replicas)
    if available:
        return Condition(
            c.WORKLOAD_AVAILABLE, True, "Available", f"pods ready {replicas} (left as they were)"
        )
    return Condition(c.WORKLOAD_AVAILABLE, False, "PodsNotReady", f"pods ready {replicas}")


async def _report(
    ctx: Context,
    body: dict[str, Any],
    spec: PortalSpec,
    parts: dict[str, Condition],
    waiting: list[Condition],
    stalled: list[Condition],
    key_state: keys.KeyState | None,
    bucket: str | None,
    replicas: str,
    logger: Logger,
) -> None:
    """Write status only when something in it changed."""
    old: dict[str, Any] = body.get("status") or {}
    merged = conditions.merge(
        old.get("conditions") or [],
        conditions.summarise(parts, waiting, stalled),
        spec.generation,
    )
    status: dict[str, Any] = {
        "observedGeneration": spec.generation,
        "namespace": spec.namespace,
        "url": spec.url,
        "languages": ",".join(spec.languages),
        "replicas": replicas,
        "conditions": merged,
    }
    if bucket:
        status["bucket"] = bucket
    if key_state is not None:
        status["primaryKeyId"] = key_state.primary
        status["lastRotationTime"] = key_state.rotated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if all(old.get(key) == value for key, value in status.items()):
        return
    await ctx.kube.patch_portal_status(spec.name, status)
    ready = next(cond for cond in merged if cond["type"] == c.READY)
    logger.info("status: Ready=%s (%s) %s", ready["status"], ready["reason"], replicas)
