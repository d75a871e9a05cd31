"""Start-up: kopf's settings (one reason each) and the shared context in `memo`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

import kopf

from dokportal_operator import constants as c
from dokportal_operator import leader, metrics, webhook
from dokportal_operator.context import Context
from dokportal_operator.handlers import secrets
from dokportal_operator.kube import Kube
from dokportal_operator.settings import get_settings

POD_SECURITY = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf keeps a Portal's last handled spec (the "diff base", an annotation) for on.create
    and on.update handlers. The operator has none — its loop compares the whole state on every
    pass — so nothing is kept: storing it cost a write of the Portal on its creation and on
    every change of its spec, labels or annotations (even an idle resync woken by a foreign
    annotation wrote). Portals of earlier versions keep a stale c.DIFFBASE_ANNOTATION that
    nothing reads."""

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


async def lead(memo: kopf.Memo, **_: Any) -> None:
    """First of all: take the Lease (this process found it free or its own before kopf started;
    a standby runs standby.py instead), then keep renewing it."""
    own = get_settings()
    if not own.leader_election:
        return
    elector = leader.Elector(own.namespace, seconds=own.lease_seconds)
    await elector.acquire()
    memo["elector"] = elector
    memo["leading"] = asyncio.create_task(elector.keep())


async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    own = get_settings()
    logging.getLogger().setLevel(own.log_level)
    if own.metrics_port and "metrics" not in memo:
        metrics.serve(own.metrics_port, own.metrics_addr)
        memo["metrics"] = True
    # Our names for kopf's bookkeeping, fixed for good (renaming makes kopf redo everything).
    settings.persistence.finalizer = c.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=c.PROGRESS_PREFIX
    )
    settings.persistence.diffbase_storage = NoDiffBase()
    # Our CRD is installed by the chart: no need to watch CRDs (and no right to list them).
    settings.scanning.disabled = True
    # Two replicas elect a leader over a Lease (leader.py); kopf's peering is not used.
    settings.peering.standalone = True
    # Events on the Portal only for what an administrator should see.
    settings.posting.level = logging.WARNING
    # Reconnect watches regularly so a silently dropped connection cannot stall us for long.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    # A stuck API call must not hang a handler forever.
    settings.networking.request_timeout = 60
    # Let a reconcile pass that is under way finish before a daemon is cancelled.
    settings.background.cancellation_polling = 1
    ctx = Context(Kube.from_environment(), own)
    memo["ctx"] = ctx
    if own.restrict_namespace:
        # Its own namespace holds every tenant's credentials and retained keyrings: Pod
        # Security "restricted" there too (only these labels are ours).
        await ctx.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": own.namespace, "labels": dict(POD_SECURITY)},
            }
        )
    memo["watchers"] = [
        asyncio.create_task(secrets.watch_credentials(ctx, logging.getLogger(__name__)))
    ]
    if own.webhook_port:
        # kopf's own self-signed certificates need oscrypto (broken on OpenSSL 3): ours.
        bundle = await webhook.certificate(ctx.kube, own)
        cert, key = webhook.files(bundle)
        memo["webhook"] = bundle
        memo["webhook_files"] = cert.parent  # removed again at clean-up
        settings.admission.server = kopf.WebhookServer(
            addr=own.webhook_addr,
            port=own.webhook_port,
            certfile=str(cert),
            pkeyfile=str(key),
            cadata=bundle.ca,
        )


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in [*(memo.get("watchers") or []), memo.get("leading")]:
        if task is None:
            continue
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    ctx = memo.get("ctx")
    if isinstance(ctx, Context):
        await ctx.kube.close()
    folder = memo.get("webhook_files")
    if isinstance(folder, Path):
        shutil.rmtree(folder, ignore_errors=True)
    elector = memo.get("elector")
    if isinstance(elector, leader.Elector):
        await elector.release()
