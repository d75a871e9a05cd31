"""Drift: a child of a Portal was changed or deleted by someone else → wake its Portal's loop,
which applies the desired state again (server-side apply takes the fields back)."""

from __future__ import annotations

from typing import Any

import kopf

from dokportal_operator import constants as c
from dokportal_operator.context import Context

# (group, version, plural) of every kind of child that is watched.
WATCHED = (
    ("", "v1", "namespaces"),
    ("", "v1", "configmaps"),
    ("", "v1", "services"),
    ("", "v1", "serviceaccounts"),
    ("", "v1", "persistentvolumeclaims"),
    ("", "v1", "resourcequotas"),
    ("apps", "v1", "deployments"),
    ("batch", "v1", "jobs"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("networking.k8s.io", "v1", "ingresses"),
    ("policy", "v1", "poddisruptionbudgets"),
)
SELECTOR = {c.MANAGED_BY_LABEL: c.MANAGED_BY}


async def wake_owner(labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> None:
    ctx: Context = memo["ctx"]
    ctx.wake(labels.get(c.PORTAL_LABEL))
