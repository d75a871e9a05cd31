"""Drift: a child of a Portal was changed or deleted by someone else → wake its Portal's loop,
which applies the desired state again (server-side apply takes the fields back)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import kopf

from dokportal_operator import constants as c
from dokportal_operator.context import Context
from dokportal_operator.kube import Ref
from dokportal_operator.resources import workload

# (group, version, plural) of every kind of child that is watched.
WATCHED = (
    ("", "v1", "namespaces"),
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("", "v1", "serviceaccounts"),
    ("", "v1", "persistentvolumeclaims"),
    ("", "v1", "resourcequotas"),
    ("", "v1", "limitranges"),
    ("apps", "v1", "deployments"),
    ("batch", "v1", "jobs"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("networking.k8s.io", "v1", "ingresses"),
    ("policy", "v1", "poddisruptionbudgets"),
)
SELECTOR = {c.MANAGED_BY_LABEL: c.MANAGED_BY}


def news(body: Mapping[str, Any]) -> str:
    """What of a child a reconcile pass acts on: all but its status and the API server's
    bookkeeping — plus the few status fields a pass waits for (a rollout's progress, a Job's
    end, the phase of a claim or a namespace). Status updates that change none of it (a
    quota's usage, a disruption budget's counts, a Job's active pods) wake nobody."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    waited: Any = None
    if body.get("kind") == "Deployment":
        # (available, rolled out, "ready/desired"): what the pass reports and waits for
        desired = int((body.get("spec") or {}).get("replicas") or 0)
        waited = workload.rollout(dict(body), desired)
    elif body.get("kind") == "Job":
        waited = workload.job_state(dict(body))
    elif body.get("kind") in {"PersistentVolumeClaim", "Namespace"}:
        waited = status.get("phase")
    rest = {key: value for key, value in body.items() if key not in {"metadata", "status"}}
    kept = {
        key: meta.get(key)
        for key in ("labels", "annotations", "ownerReferences", "deletionTimestamp", "finalizers")
    }
    return json.dumps([rest, kept, waited], sort_keys=True, default=str)


async def wake_owner(
    body: kopf.Body, labels: kopf.Labels, type: str | None, memo: kopf.Memo, **_: Any
) -> None:
    ctx: Context = memo["ctx"]
    ref = Ref.of(body)
    if type == "DELETED":
        ctx.children_seen.pop(ref, None)
    else:
        summary = news(body)
        if ctx.children_seen.get(ref) == summary:
            return  # nothing a pass would act on changed
        ctx.children_seen[ref] = summary
        # The echo of our own create or apply is not news either.
        if ctx.kube.is_own_write(ref, body.metadata.get("resourceVersion")):
            return
    # Someone's change, a deletion, progress of what a pass waits for.
    ctx.wake(labels.get(c.PORTAL_LABEL))
