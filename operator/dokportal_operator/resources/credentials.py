"""Credentials a Portal refers to (S3 keys, a PostgreSQL URL), read from the named Secret and
copied into the tenant namespace, where the portal's pods can use them."""

from __future__ import annotations

import base64
import binascii
import hashlib

from dokportal_operator import render
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman
from dokportal_operator.kube import Ref
from dokportal_operator.spec import PortalSpec, SecretRef


async def read(
    ctx: Context, ref: SecretRef, keys: tuple[str, ...], what: str, reader: str = ""
) -> dict[str, str]:
    """The named keys of the Secret, decoded; NeedsHuman when the Secret or a key is missing,
    or when it lives in a namespace the operator's settings do not allow."""
    if not ctx.settings.secret_namespace_allowed(ref.namespace):
        raise NeedsHuman(
            "SecretNotAllowed",
            f"Secret {ref.namespace}/{ref.name} is outside the operator's namespace "
            f"{ctx.settings.namespace}: only Secrets there (or in namespaces listed in the "
            "operator's DOKPORTAL_OPERATOR_SECRET_NAMESPACES) may be named. Put it into "
            f"{ctx.settings.namespace}",
        )
    if reader:
        # Remembered before the read: a Secret made later wakes the reader too.
        ctx.readers.setdefault((ref.namespace, ref.name), set()).add(reader)
    secret = await ctx.kube.get(Ref("Secret", ref.name, ref.namespace))
    if secret is None:
        raise NeedsHuman(
            f"{what}SecretMissing", f"Secret {ref.namespace}/{ref.name} does not exist"
        )
    data = secret.get("data") or {}
    values: dict[str, str] = {}
    for key in keys:
        try:
            values[key] = base64.b64decode(data.get(key) or "", validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            values[key] = ""
        if not values[key]:
            raise NeedsHuman(
                f"{what}SecretIncomplete",
                f"Secret {ref.namespace}/{ref.name} has no value for the key {key!r}",
            )
    return values


def digest(*parts: str) -> str:
    """A one-way summary of inputs (to notice changed credentials without keeping them)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


async def copy(
    ctx: Context, spec: PortalSpec, name: str, values: dict[str, str], part: str
) -> None:
    await ctx.ensure(spec.uid, render.secret(spec, name, values, part))
    ctx.copied.setdefault(spec.uid, {})[name] = digest(
        *(f"{k}={v}" for k, v in sorted(values.items()))
    )
