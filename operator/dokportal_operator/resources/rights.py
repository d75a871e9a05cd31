"""Rights in a tenant namespace that nobody rendered: a Role or RoleBinding someone added
could hand out the tenant's Secrets (keyring, credentials). The operator does not delete them
(it may not touch RBAC objects, and they may be intended) but reports them: a Warning Event on
the Portal and a line in its log, once per change of what it found."""

from __future__ import annotations

from dokportal_operator import constants as c
from dokportal_operator.context import Context, Logger
from dokportal_operator.kube import ApiError, Obj
from dokportal_operator.spec import PortalSpec

KINDS = ("Role", "RoleBinding")


async def check(ctx: Context, spec: PortalSpec, body: Obj, logger: Logger) -> None:
    found: list[str] = []
    for kind in KINDS:
        for item in await ctx.kube.list(kind, spec.namespace, {}):
            labels = (item.get("metadata") or {}).get("labels") or {}
            if labels.get(c.MANAGED_BY_LABEL) != c.MANAGED_BY:
                found.append(f"{kind} {item['metadata']['name']}")
    summary = ", ".join(sorted(found))
    if ctx.rights_seen.get(spec.uid) == summary:
        return
    ctx.rights_seen[spec.uid] = summary
    if not found:
        return
    message = (
        f"namespace {spec.namespace} holds {summary}, not made by the operator: they may grant "
        "access to the tenant's keyring and credentials. Remove them unless intended"
    )
    logger.warning("Portal %s: %s", spec.name, message)
    try:
        await ctx.kube.post_event(body, "Warning", "ForeignRights", message)
    except ApiError as error:
        logger.warning("could not post an Event: %s", error)
