"""The database: SQLite on the data volume, or PostgreSQL from a referenced Secret."""

from __future__ import annotations

from dokportal_operator import constants as c
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman
from dokportal_operator.resources import credentials, storage
from dokportal_operator.spec import PortalSpec


async def ensure(ctx: Context, spec: PortalSpec) -> Condition:
    if spec.postgresql is None:
        claim = await storage.ensure_claim(ctx, spec, c.DATABASE_READY)
        return Condition(
            c.DATABASE_READY, True, "SqliteOnVolume", f"SQLite on the data volume; {claim.message}"
        )
    ref = spec.postgresql
    values = await credentials.read(ctx, ref, (ref.key,), "Connection", spec.name)
    url = values[ref.key]
    if not url.startswith(("postgresql://", "postgres://")):
        raise NeedsHuman(
            "ConnectionURLInvalid",
            f"Secret {ref.namespace}/{ref.name} key {ref.key!r} is not a postgresql:// URL",
        )
    await credentials.copy(ctx, spec, c.DATABASE_SECRET, {c.DATABASE_KEY: url}, c.PART_STORAGE)
    return Condition(
        c.DATABASE_READY,
        True,
        "ConnectionSecretFound",
        f"PostgreSQL URL from Secret {ref.namespace}/{ref.name}",
    )
