"""Credential Secrets next to the operator, watched: a new password reaches the tenant's copy
at once (the Portals reading that Secret are woken; their pass copies it, and the checksum of
the copies in the pod template rolls the pods) — not at the next resync.

Only the operator's namespace is watched (a Role of the chart allows list/watch there and
nowhere else); Secrets in namespaces allowed by DOKPORTAL_OPERATOR_SECRET_NAMESPACES are
picked up at the next resync.
"""

from __future__ import annotations

import asyncio

from dokportal_operator.context import Context, Logger


async def watch_credentials(ctx: Context, logger: Logger) -> None:
    namespace = ctx.settings.namespace
    seen: dict[str, str] = {}
    while True:
        try:
            async for change, secret in ctx.kube.watch("Secret", namespace):
                meta = secret.get("metadata") or {}
                name = str(meta.get("name") or "")
                version = str(meta.get("resourceVersion") or "")
                if change != "DELETED" and seen.get(name) == version:
                    continue  # a re-listing after a reconnect: nothing new
                seen[name] = version
                for portal in sorted(ctx.readers.get((namespace, name), ())):
                    logger.info("Secret %s/%s changed: waking Portal %s", namespace, name, portal)
                    ctx.wake(portal)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the API may be back soon; the resync covers us
            logger.warning("watching Secrets in %s failed, retrying: %s", namespace, error)
            await asyncio.sleep(ctx.settings.retry_seconds)
