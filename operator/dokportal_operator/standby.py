"""Handler registrations of a standby replica: it serves the validating webhook (so every
replica behind the Service answers admission requests) and keeps the Portal claims index for
it, but reconciles nothing; it waits for the Lease and then restarts itself as the leader."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from dokportal_operator import constants as c
from dokportal_operator import leader, webhook
from dokportal_operator.handlers import admit, keep, startup
from dokportal_operator.settings import get_settings


async def wait_for_lease(memo: kopf.Memo, **_: Any) -> None:
    own = get_settings()
    elector = leader.Elector(own.namespace, seconds=own.lease_seconds)
    memo["watchers"] = [
        *(memo.get("watchers") or []),
        asyncio.create_task(elector.wait_then_lead()),
    ]


kopf.on.startup()(startup.configure)
kopf.on.startup()(wait_for_lease)
kopf.on.cleanup()(startup.cleanup)
kopf.index(c.GROUP, c.VERSION, c.PLURAL)(keep.portal_claims)
if get_settings().webhook_port:  # kopf refuses admission handlers without a server
    kopf.on.validate(
        c.GROUP, c.VERSION, c.PLURAL, id=webhook.ADMISSION_ID, operations=["CREATE", "UPDATE"]
    )(admit.admit)
