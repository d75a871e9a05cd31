"""Keeping a Portal: one loop per Portal (a kopf daemon) that reconciles, then sleeps until
something changes (the Portal, one of its children) or the next resync or rotation is due.

One loop per Portal means passes never overlap; events only wake it, so a burst of them
costs one pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import kopf

from dokportal_operator import collisions, metrics
from dokportal_operator import constants as c
from dokportal_operator.context import Context, Logger
from dokportal_operator.kube import Ref, counting_writes
from dokportal_operator.reconcile import reconcile, report_failure

_DEBOUNCE = 0.3  # seconds to let a burst of events settle before a pass
_WAIT_BACKOFF_CAP = 60.0  # seconds between looks while waiting and nothing moves, at most


_FAILURE_BACKOFF_CAP = 300.0  # seconds between passes that keep failing, at most


def portal_claims(
    name: str, spec: kopf.Spec, meta: kopf.Meta, **_: Any
) -> dict[tuple[str, str], collisions.Claim]:
    """The kopf index of every Portal's hostname, bucket and slug (see collisions)."""
    return collisions.index(name, dict(spec), dict(meta))


async def keep_portal(
    name: str,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: Logger,
    **kwargs: Any,
) -> None:
    ctx: Context = memo["ctx"]
    # kopf passes every index by its handler's name.
    claims: kopf.Index[tuple[str, str], collisions.Claim] | None = kwargs.get("portal_claims")
    wake = ctx.wakeup(name)
    idle_waits = 0
    failures = 0
    body: dict[str, Any] | None = None
    while not stopped:
        wake.clear()
        started = time.perf_counter()
        try:
            with counting_writes() as writes:
                body = await ctx.kube.get(Ref(c.KIND, name))
                if body is None or body["metadata"].get("deletionTimestamp"):
                    return
                outcome = await reconcile(ctx, body, logger, claims)
            delay = outcome.delay
            if outcome.waiting and writes.n == 0:
                # Still waiting and nothing moved: what we wait for wakes us by its events
                # (a Job's end, a rollout's progress); the timer is only the safety net, so
                # it backs off (5, 10, 20, 40, 60 s with the default retry interval).
                idle_waits += 1
                delay = min(delay * 2 ** (idle_waits - 1), max(delay, _WAIT_BACKOFF_CAP))
            else:
                idle_waits = 0
            # One line per pass; "0 writes" is what an idle resync must say.
            logger.info(
                "pass done for %s: %d writes, settled=%s, next look in %.0fs",
                name,
                writes.n,
                outcome.settled,
                delay,
            )
            failures = 0
            metrics.PASSES.labels("ok").inc()
            metrics.PASS_SECONDS.observe(time.perf_counter() - started)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - keep the loop alive; the API may be back soon
            metrics.PASSES.labels("failed").inc()
            metrics.ERRORS.labels(type(error).__name__).inc()
            # Backs off (5, 10, 20 … 300 s with the default retry interval) and says so in
            # the status: a pass that fails never leaves an old Ready=True standing.
            failures += 1
            delay = min(
                ctx.settings.retry_seconds * 2 ** (failures - 1),
                max(ctx.settings.retry_seconds, _FAILURE_BACKOFF_CAP),
            )
            logger.warning(
                "reconcile failed (%d in a row), next try in %.0fs: %s: %s",
                failures,
                delay,
                type(error).__name__,
                error,
            )
            if body is not None:
                try:
                    await report_failure(ctx, body, error, logger)
                except Exception as report_error:  # noqa: BLE001 - the API may be down
                    logger.warning("could not report the failure: %s", report_error)
        if delay > 0:
            await _sleep(wake, stopped, delay)
        await asyncio.sleep(_DEBOUNCE)


async def _sleep(wake: asyncio.Event, stopped: kopf.DaemonStopped, delay: float) -> None:
    waiter = asyncio.ensure_future(wake.wait())
    stopper = asyncio.ensure_future(stopped.wait(delay))
    try:
        await asyncio.wait({waiter, stopper}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def wake_on_change(name: str, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A change of the Portal's spec, labels or annotations (such as rotate-keys), or its
    deletion, wakes its loop — not the status the loop itself wrote, nor kopf's bookkeeping
    (finalizer, diff-base annotation): those would only cost another pass."""
    ctx: Context = memo["ctx"]
    meta = body.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(c.DIFFBASE_ANNOTATION, None)
    trigger = json.dumps(
        [
            meta.get("uid"),
            meta.get("generation"),
            meta.get("deletionTimestamp"),
            meta.get("labels"),
            annotations,
        ],
        sort_keys=True,
    )
    if ctx.portal_triggers.get(name) != trigger:
        ctx.portal_triggers[name] = trigger
        ctx.wake(name)
