"""One level-based pass over a Portal: bring every part to the desired state, then report.

Each step is idempotent, so a pass can be interrupted anywhere (operator restart) and the next
one continues. Steps that wait raise `Waiting`; problems only a person can fix raise
`NeedsHuman`; both become conditions instead of tearing anything down.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dokportal_operator import collisions, conditions, metrics, render
from dokportal_operator import constants as c
from dokportal_operator.collisions import Claim
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context, Logger
from dokportal_operator.errors import NeedsHuman, Waiting
from dokportal_operator.kube import ApiError, Ref, status_code
from dokportal_operator.ownership import Owned
from dokportal_operator.resources import database, keys, namespace, rights, storage, workload
from dokportal_operator.spec import PortalSpec, parse


@dataclass(frozen=True)
class Outcome:
    """When to look again (seconds), at the latest."""

    delay: float
    settled: bool  # nothing to wait for and nothing for a person to fix
    waiting: bool = False  # for something that settles by itself (a Job, a rollout)


async def reconcile(
    ctx: Context,
    body: dict[str, Any],
    logger: Logger,
    claims: Mapping[tuple[str, str], Iterable[Claim]] | None = None,
) -> Outcome:
    """One pass. `claims`: every Portal's hostname, bucket and slug (the kopf index); None
    skips the collision check (unit tests)."""
    spec = parse(body, ctx.settings.namespace)
    status: dict[str, Any] = body.get("status") or {}
    owned = Owned.from_status(status)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts: dict[str, Condition] = {}
    waiting: list[Condition] = []
    stalled: list[Condition] = []
    key_state: keys.KeyState | None = None
    bucket = render.bucket_name(spec)
    # Until this pass looks at the workload: what the last one saw.
    replicas = str(status.get("replicas") or f"0/{spec.replicas}")
    again = False
    identity: storage.Identity | None = None
    report = Report(ctx, body, spec, logger)

    def trouble(kind: str, error: Waiting | NeedsHuman) -> None:
        cond = Condition(kind, False, error.reason, error.message)
        parts[kind] = cond
        (stalled if isinstance(error, NeedsHuman) else waiting).append(cond)

    # What only a person can fix before anything is made: a claim another Portal holds, a
    # spec the CRD cannot check.
    meta = body.get("metadata") or {}
    found = (
        collisions.conflicts(
            spec.name, spec.uid, str(meta.get("creationTimestamp") or ""), body["spec"], claims
        )
        if claims is not None
        else []
    )
    problems = [Condition(c.STALLED, True, item.reason, item.message) for item in found]
    problems += [Condition(c.STALLED, True, reason, text) for reason, text in validate(spec)]
    if problems:
        stalled.extend(problems)
        await report.write(parts, waiting, stalled, None, bucket, replicas, owned)
        return Outcome(ctx.settings.resync_seconds, False)

    try:
        owned = owned.with_namespace(await namespace.ensure(ctx, spec), stamp)
    except Waiting as error:
        waiting.append(Condition(c.RECONCILING, True, error.reason, error.message))
        await report.write(parts, waiting, stalled, None, bucket, replicas, owned)
        return Outcome(ctx.settings.retry_seconds, False, waiting=True)
    except NeedsHuman as error:
        stalled.append(Condition(c.STALLED, True, error.reason, error.message))
        await report.write(parts, waiting, stalled, None, bucket, replicas, owned)
        return Outcome(ctx.settings.resync_seconds, False)

    try:
        key_state = await keys.ensure(ctx, spec, now, owned)
        parts[c.KEYS_READY] = keys.condition(key_state)
        owned = owned.with_keyring(key_state.ids, key_state.fingerprint, stamp)
        if key_state.session_fingerprint:
            owned = owned.with_session(key_state.session_fingerprint, stamp)
    except (Waiting, NeedsHuman) as error:
        trouble(c.KEYS_READY, error)
    try:
        stored = await storage.ensure(
            ctx,
            spec,
            owned,
            str(status.get("bucket") or ""),
            storage.Identity.from_status(status),
        )
        parts[c.STORAGE_READY] = stored.condition
        identity = stored.identity
        if stored.bucket and stored.marker and spec.s3 is not None:
            owned = owned.with_bucket(stored.bucket, spec.s3.endpoint, stored.marker, stamp)
    except (Waiting, NeedsHuman) as error:
        trouble(c.STORAGE_READY, error)
    try:
        parts[c.DATABASE_READY] = await database.ensure(ctx, spec)
    except (Waiting, NeedsHuman) as error:
        trouble(c.DATABASE_READY, error)

    if key_state is not None and not waiting and not stalled:
        facts = render.WorkloadFacts(
            bucket,
            key_state.primary,
            rewrap=bool(key_state.retiring),
            credentials_checksum=ctx.credentials_checksum(spec.uid),
        )
        try:
            state = await workload.ensure(ctx, spec, facts)
            parts[c.WORKLOAD_AVAILABLE] = state.condition
            replicas = state.replicas
            again = state.again
            if state.waiting is not None:
                waiting.append(state.waiting)
            elif identity is not None and identity.retiring and not again:
                identity = await _retire_after_rollout(ctx, spec, identity)
        except (Waiting, NeedsHuman) as error:
            trouble(c.WORKLOAD_AVAILABLE, error)
        except ApiError as error:
            if status_code(error) not in {400, 422}:
                raise
            # The spec renders into something the API server refuses (e.g. requests above
            # limits): only a person can fix that; the running workload stays.
            trouble(
                c.WORKLOAD_AVAILABLE,
                NeedsHuman("ApplyRejected", f"the API server refused the workload: {error}"),
            )
    else:
        # Nothing is torn down: the workload keeps running with what it had.
        parts[c.WORKLOAD_AVAILABLE] = await _observed_workload(ctx, spec)
    await rights.check(ctx, spec, body, logger)

    if identity is not None:
        report.identity = identity.to_status()
    await report.write(parts, waiting, stalled, key_state, bucket, replicas, owned)
    if again:
        return Outcome(0.0, False)
    if waiting:
        return Outcome(ctx.settings.retry_seconds, False, waiting=True)
    delay = ctx.settings.resync_seconds
    if key_state is not None:
        due_in = (key_state.next_rotation(spec.rotation_days) - now).total_seconds()
        delay = max(1.0, min(delay, due_in))
    return Outcome(delay, not stalled)


def validate(spec: PortalSpec) -> list[tuple[str, str]]:
    """What the CRD's schema cannot check: (reason, message) for each problem."""
    problems = []
    try:
        zoneinfo.ZoneInfo(spec.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            (
                "InvalidSpec",
                f"tenant.timezone {spec.timezone!r} is not a time zone of the IANA database "
                "(e.g. Europe/Berlin)",
            )
        )
    if not spec.has_tls and not spec.allow_plain_http:
        problems.append(
            (
                "TLSMissing",
                f"https://{spec.hostname} needs a certificate: set ingress.tlsSecretName (a TLS "
                "Secret in the portal's namespace) or ingress.clusterIssuer (cert-manager); "
                "only for a test system, set ingress.allowPlainHTTP: true",
            )
        )
    return problems


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


async def _retire_after_rollout(
    ctx: Context, spec: PortalSpec, identity: storage.Identity
) -> storage.Identity:
    """The old S3 keys go only when every pod runs with the copied (new) ones: the Deployment
    rolled out completely with the current credentials checksum."""
    deployment = await ctx.kube.get(Ref("Deployment", c.RELEASE, spec.namespace))
    if deployment is None:
        return identity
    _, done, _ = workload.rollout(deployment, spec.replicas)
    template = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    checksum = (template.get("annotations") or {}).get(c.CREDENTIALS_CHECKSUM_ANNOTATION)
    if not done or checksum != ctx.credentials_checksum(spec.uid):
        return identity
    return await storage.retire_old_keys(identity)


class Report:
    """Writes a pass's status — only when something in it changed — and posts an Event on
    the Portal when its phase (Ready, Paused, Reconciling, Stalled and why) changes."""

    def __init__(self, ctx: Context, body: dict[str, Any], spec: PortalSpec, logger: Logger):
        self.ctx, self.body, self.spec, self.logger = ctx, body, spec, logger
        self.identity: dict[str, Any] | None = None  # status.s3Identity, once known

    async def write(
        self,
        parts: dict[str, Condition],
        waiting: list[Condition],
        stalled: list[Condition],
        key_state: keys.KeyState | None,
        bucket: str | None,
        replicas: str,
        owned: Owned,
    ) -> None:
        spec = self.spec
        old: dict[str, Any] = self.body.get("status") or {}
        merged = conditions.merge(
            old.get("conditions") or [],
            conditions.summarise(parts, waiting, stalled, paused=spec.replicas == 0),
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
        recorded = owned.to_status()
        if recorded:
            status["owned"] = recorded
        if bucket and bucket in {owned.bucket, old.get("bucket")}:
            # only a bucket this Portal made or checked (status.bucket is what deletion uses)
            status["bucket"] = bucket
        if self.identity is not None:
            status["s3Identity"] = self.identity
        if key_state is not None:
            status["primaryKeyId"] = key_state.primary
            status["lastRotationTime"] = key_state.rotated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        await write_status(self.ctx, self.body, status, self.logger)


async def write_status(
    ctx: Context, body: dict[str, Any], status: dict[str, Any], logger: Logger
) -> None:
    """Patch the status if it differs; an Event when the phase changed."""
    old: dict[str, Any] = body.get("status") or {}
    if all(old.get(key) == value for key, value in status.items()):
        return
    name = body["metadata"]["name"]
    await ctx.kube.patch_portal_status(name, status)
    merged = status.get("conditions") or []
    metrics.observe_conditions(name, merged)
    metrics.observe_ready(body, old.get("conditions") or [], merged)
    ready: dict[str, Any] = next((cond for cond in merged if cond["type"] == c.READY), {})
    logger.info(
        "status: Ready=%s (%s) %s", ready.get("status"), ready.get("reason"), status.get("replicas")
    )
    before = conditions.phase(old.get("conditions") or [])
    after = conditions.phase(merged)
    if after != before and after[0]:
        await post_event(ctx, body, after, merged, logger)


async def post_event(
    ctx: Context,
    body: dict[str, Any],
    phase: tuple[str, str],
    merged: list[dict[str, Any]],
    logger: Logger,
) -> None:
    kind, reason = phase
    if kind in {"Stalled", "Failing"}:
        which = c.STALLED if kind == "Stalled" else c.READY
        cond = next((item for item in merged if item["type"] == which), {})
        event: tuple[Any, str, str] = ("Warning", reason, str(cond.get("message") or ""))
    else:
        cond = next((item for item in merged if item["type"] == c.READY), {})
        event = ("Normal", kind, str(cond.get("message") or kind))
    try:
        await ctx.kube.post_event(body, *event)
    except ApiError as error:  # a notice only; the status already says it
        logger.warning("could not post an Event: %s", error)


async def report_failure(
    ctx: Context, body: dict[str, Any], error: BaseException, logger: Logger
) -> None:
    """A pass that failed for a reason nobody foresaw still says so, for this generation:
    Ready False and Reconciling True with reason ReconcileFailed (the loop backs off)."""
    generation = int((body.get("metadata") or {}).get("generation") or 0)
    old: dict[str, Any] = body.get("status") or {}
    text = f"the last pass failed and is retried with back-off: {type(error).__name__}: {error}"
    failing = [
        Condition(c.READY, False, "ReconcileFailed", text),
        Condition(c.RECONCILING, True, "ReconcileFailed", text),
    ]
    previous = old.get("conditions") or []
    # The other conditions stay as the last pass that got that far saw them (with their own
    # observedGeneration): this pass did not look at them.
    kept = [dict(item) for item in previous if item.get("type") not in {c.READY, c.RECONCILING}]
    fresh = conditions.merge(previous, failing, generation)
    merged = sorted(
        [*fresh, *kept],
        key=lambda item: (
            conditions.ORDER.index(item["type"])
            if item.get("type") in conditions.ORDER
            else len(conditions.ORDER)
        ),
    )
    await write_status(ctx, body, {"observedGeneration": generation, "conditions": merged}, logger)
