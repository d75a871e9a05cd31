"""The tenant namespace: Pod Security "restricted", a quota, default-deny, a ServiceAccount."""

from __future__ import annotations

from dokportal_operator import render
from dokportal_operator.context import Context
from dokportal_operator.errors import Waiting
from dokportal_operator.spec import PortalSpec


async def ensure(ctx: Context, spec: PortalSpec) -> None:
    namespace, *inside = render.namespace_objects(spec)
    live = await ctx.ensure(spec.uid, namespace)
    if (live.get("metadata") or {}).get("deletionTimestamp"):
        raise Waiting(
            "NamespaceTerminating",
            f"namespace {spec.namespace} is still being deleted; it will be made again",
        )
    for obj in inside:
        await ctx.ensure(spec.uid, obj)
