"""Which events wake a Portal's loop: changes a pass acts on, not the echo of the operator's
own writes, nor status updates nobody waits for (each wake costs a whole pass)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any, cast

import kopf

from dokportal_operator import constants as c
from dokportal_operator.context import Context
from dokportal_operator.handlers import drift, keep
from dokportal_operator.kube import Kube
from dokportal_operator.settings import OperatorSettings

Obj = dict[str, Any]
PORTAL = "viernheim"
LABELS = {c.MANAGED_BY_LABEL: c.MANAGED_BY, c.PORTAL_LABEL: PORTAL}


class _Client:
    """lightkube's AsyncClient as far as `Kube.apply` needs it: the object comes back with a
    new resourceVersion."""

    def __init__(self) -> None:
        self.version = 100

    async def patch(self, resource: Any, name: str, obj: Obj, **_: Any) -> Obj:
        self.version += 1
        result = copy.deepcopy(obj)
        result["metadata"]["resourceVersion"] = str(self.version)
        return result


def _context() -> tuple[Context, asyncio.Event]:
    ctx = Context(kube=Kube(_Client()), settings=OperatorSettings())  # type: ignore[arg-type]
    return ctx, ctx.wakeup(PORTAL)


def _child(kind: str, version: str, **fields: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {
            "name": "portal",
            "namespace": f"portal-{PORTAL}",
            "labels": LABELS,
            "resourceVersion": version,
        },
        **fields,
    }


def _body(obj: Obj) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, copy.deepcopy(obj)))


async def _child_event(ctx: Context, obj: Obj, event: str | None = "MODIFIED") -> None:
    await drift.wake_owner(
        body=_body(obj), labels=obj["metadata"]["labels"], type=event, memo=kopf.Memo(ctx=ctx)
    )


async def test_the_echo_of_our_own_apply_wakes_nobody() -> None:
    ctx, wake = _context()
    applied = await ctx.kube.apply(_child("ConfigMap", "0", data={"a": "1"}))
    await _child_event(ctx, applied, "ADDED")
    assert not wake.is_set()
    changed = copy.deepcopy(applied)
    changed["data"] = {"a": "2"}
    changed["metadata"]["resourceVersion"] = "999"
    await _child_event(ctx, changed)  # drift: someone else changed it
    assert wake.is_set()
    wake.clear()
    await _child_event(ctx, changed, "DELETED")
    assert wake.is_set()


async def test_status_updates_nobody_waits_for_wake_nobody() -> None:
    ctx, wake = _context()
    quota = _child("ResourceQuota", "1", spec={"hard": {"pods": "8"}})
    await _child_event(ctx, quota)
    wake.clear()
    quota["status"] = {"used": {"pods": "3"}}
    quota["metadata"]["resourceVersion"] = "2"
    await _child_event(ctx, quota)
    assert not wake.is_set()

    job = _child("Job", "3", spec={"template": {}})
    await _child_event(ctx, job)
    wake.clear()
    job["status"] = {"active": 1}
    await _child_event(ctx, job)
    assert not wake.is_set()
    job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    await _child_event(ctx, job)
    assert wake.is_set()  # the migration finished: the Deployment may go ahead


async def test_a_rollout_progressing_wakes_the_loop() -> None:
    ctx, wake = _context()
    deployment = _child("Deployment", "5", spec={"replicas": 2})
    await _child_event(ctx, deployment)
    wake.clear()
    deployment["status"] = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 1}
    await _child_event(ctx, deployment)
    assert wake.is_set()


async def test_portal_events_wake_only_for_spec_labels_annotations_or_deletion() -> None:
    ctx, wake = _context()
    portal: Obj = {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {"name": PORTAL, "uid": "u1", "generation": 1, "annotations": {}},
        "spec": {},
    }

    async def event(**meta: Any) -> bool:
        wake.clear()
        portal["metadata"].update(meta)
        await keep.wake_on_change(name=PORTAL, body=_body(portal), memo=kopf.Memo(ctx=ctx))
        return wake.is_set()

    assert await event()  # first sight
    portal["status"] = {"replicas": "2/2"}
    assert not await event(resourceVersion="2")  # our own status write
    assert not await event(finalizers=[c.FINALIZER])  # kopf's bookkeeping
    assert not await event(annotations={c.DIFFBASE_ANNOTATION: "{}"})
    assert await event(annotations={c.ROTATE_ANNOTATION: "now"})
    assert await event(generation=2)
    assert await event(deletionTimestamp="2026-11-25T12:00:00Z")
