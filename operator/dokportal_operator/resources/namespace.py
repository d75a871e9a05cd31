"""The tenant namespace: Pod Security "restricted", a quota, default-deny, a ServiceAccount.

Only a namespace the operator made for this Portal (its owner reference names the Portal's
uid) is used: one that already exists for someone else is never adopted — adopting would
label it, own it and, on deletion, delete whatever others kept there.
"""

from __future__ import annotations

from dokportal_operator import render
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman, Waiting
from dokportal_operator.kube import ApiError, Obj, Ref, status_code
from dokportal_operator.spec import PortalSpec


def owned_by(namespace: Obj | None, uid: str) -> bool:
    meta = (namespace or {}).get("metadata") or {}
    return any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or [])


async def ensure(ctx: Context, spec: PortalSpec) -> str:
    """The namespace and the objects in it; returns the namespace's uid."""
    namespace, *inside = render.namespace_objects(spec)
    current = await ctx.kube.get(Ref("Namespace", spec.namespace))
    if current is not None and not owned_by(current, spec.uid):
        meta = current.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            raise Waiting(
                "NamespaceTerminating",
                f"namespace {spec.namespace} (of an earlier Portal) is still being deleted",
            )
        owners = ", ".join(
            f"{ref.get('kind')} {ref.get('name')}" for ref in meta.get("ownerReferences") or []
        )
        raise NeedsHuman(
            "NamespaceTaken",
            f"namespace {spec.namespace} already exists and was not made for this Portal "
            f"({'owned by ' + owners if owners else 'no owner'}). The operator never adopts or "
            "deletes a namespace it did not make: move what is in it elsewhere and delete it, "
            "or give this Portal another name",
        )
    live = await ctx.ensure(spec.uid, namespace, current)
    if (live.get("metadata") or {}).get("deletionTimestamp"):
        raise Waiting(
            "NamespaceTerminating",
            f"namespace {spec.namespace} is still being deleted; it will be made again",
        )
    settings = ctx.settings
    binding = render.tenant_binding(
        spec, settings.namespace, settings.service_account, settings.tenant_role
    )
    await ctx.ensure(spec.uid, binding)
    try:
        for obj in inside:
            await ctx.ensure(spec.uid, obj)
    except ApiError as error:
        if status_code(error) != 403:
            raise
        # The RoleBinding was just made; the API server's authorizer sees it a moment later.
        raise Waiting(
            "RightsPending", f"the operator's RoleBinding in {spec.namespace} is not active yet", 1
        ) from None
    return str((live.get("metadata") or {}).get("uid") or "")
