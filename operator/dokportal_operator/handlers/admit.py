"""The validating webhook: refuse a Portal that would clash with another one or name a Secret
it may not (the rules are in `admission`); and keep the webhook configuration's caBundle."""

from __future__ import annotations

from typing import Any

import kopf

from dokportal_operator import admission, webhook
from dokportal_operator.context import Context, Logger
from dokportal_operator.kube import Ref
from dokportal_operator.settings import get_settings


async def admit(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    ctx: Context = memo["ctx"]
    old: kopf.Body | None = kwargs.get("old")
    found = admission.problems(
        ctx.settings, dict(body), dict(old) if old else None, kwargs.get("portal_claims")
    )
    if found:
        raise kopf.AdmissionError("; ".join(found), code=422)


def is_ours(name: str, **_: Any) -> bool:
    return name == get_settings().webhook_config


async def keep_config(body: kopf.Body, memo: kopf.Memo, logger: Logger, **_: Any) -> None:
    """The chart's configuration, or a change to it: make it trust our CA (and call our URL)."""
    ctx: Context = memo["ctx"]
    bundle: webhook.Bundle | None = memo.get("webhook")
    if bundle is None:
        return
    operations = webhook.client_config_patch(dict(body), bundle, ctx.settings)
    if operations:
        await ctx.kube.json_patch(
            Ref("ValidatingWebhookConfiguration", body.metadata["name"]), operations
        )
        logger.info("webhook configuration %s: CA bundle set", body.metadata["name"])
