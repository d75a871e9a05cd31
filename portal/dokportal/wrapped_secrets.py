"""Every secret the portal stores wrapped with a keyring key, in one list.

Key rotation, the start-up check and ``/readyz`` all need to know *where* wrapped secrets
live: a rotation that forgets one kind of them (it once forgot the staff TOTP secrets) locks
people out as soon as the old key is retired. So each kind is declared exactly once here, as a
:class:`WrappedColumn`, and everything that walks wrapped secrets walks :data:`KINDS`. A new
table with a wrapped secret must be added here; ``tests/portal/integration/test_rotation.py``
greps the code for other users of ``wrap_data_key`` so it cannot be forgotten silently.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from piccolo.columns import Column
from piccolo.table import Table

from dokportal.crypto import Keyring, WrappedKey, blob_aad, rewrap
from dokportal.files.tables import StoredFile
from dokportal.staff.tables import StaffAccount

_BATCH = 500


@dataclass(frozen=True)
class WrappedColumn:
    """One kind of wrapped secret: its table, its two columns, and the AAD it is bound to."""

    label: str
    table: type[Table]
    key_id: Column
    wrapped: Column
    aad: Callable[[Any, str], bytes]
    """(row, tenant) -> the associated data the secret was wrapped with."""


def _file_aad(row: Any, tenant: str) -> bytes:
    return blob_aad(tenant, row.blob_id)


def _totp_aad(row: Any, tenant: str) -> bytes:
    from dokportal.staff.totp import aad

    return aad(tenant, row.username)


KINDS: tuple[WrappedColumn, ...] = (
    # Customer uploads and notices alike: both are stored files.
    WrappedColumn("stored files", StoredFile, StoredFile.key_id, StoredFile.wrapped_key, _file_aad),
    WrappedColumn(
        "staff TOTP secrets",
        StaffAccount,
        StaffAccount.totp_key_id,
        StaffAccount.totp_wrapped,
        _totp_aad,
    ),
)


async def key_ids_in_use() -> set[str]:
    """Every key id some stored secret is wrapped with (what the keyring must still hold)."""
    needed: set[str] = set()
    for kind in KINDS:
        rows = (
            await kind.table.select(kind.key_id)
            .where(kind.wrapped != "")
            .distinct()
            .output(as_list=True)
        )
        needed.update(str(key_id) for key_id in rows if key_id)
    return needed


async def missing_key_ids(keyring: Keyring | None) -> list[str]:
    """Key ids stored data needs but ``keyring`` lacks (all of them without a keyring)."""
    needed = await key_ids_in_use()
    return sorted(key_id for key_id in needed if keyring is None or key_id not in keyring)


_CACHE_SECONDS = 60.0
_cached: dict[tuple[str, ...], tuple[float, list[str]]] = {}


async def missing_key_ids_cached(keyring: Keyring) -> list[str]:
    """`missing_key_ids` at most once a minute per keyring: ``/readyz`` is probed every few
    seconds, and the answer only changes with a rotation (which restarts the pods)."""
    now = time.monotonic()
    hit = _cached.get(keyring.ids)
    if hit is not None and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    missing = await missing_key_ids(keyring)
    _cached[keyring.ids] = (now, missing)
    return missing


@dataclass(frozen=True)
class RewrapCount:
    label: str
    examined: int
    rewrapped: int


async def rewrap_all(keyring: Keyring, tenant: str) -> list[RewrapCount]:
    """Rewrap every wrapped secret of every kind to the primary; raise on any that fails.

    Row by row in id order and idempotent (a row already under the primary is left alone),
    so a Job killed half-way converges when it runs again. Each write is conditional on the
    row still holding what was read, so a secret replaced meanwhile (a new TOTP enrolment)
    is never overwritten with a stale one; that row is already under the primary anyway.
    """
    return [await _rewrap_kind(kind, keyring, tenant) for kind in KINDS]


async def _rewrap_kind(kind: WrappedColumn, keyring: Keyring, tenant: str) -> RewrapCount:
    table = kind.table
    primary_key = table._meta.primary_key
    examined = rewrapped = 0
    last_id = 0
    while True:
        rows = (
            await table.objects()
            .where((primary_key > last_id) & (kind.wrapped != ""))
            .order_by(primary_key)
            .limit(_BATCH)
        )
        if not rows:
            return RewrapCount(kind.label, examined, rewrapped)
        for row in rows:
            examined += 1
            last_id = getattr(row, primary_key._meta.name)
            key_id = getattr(row, kind.key_id._meta.name)
            encoded = getattr(row, kind.wrapped._meta.name)
            if key_id == keyring.primary_id:
                continue
            wrapped = WrappedKey(key_id=key_id, wrapped=base64.b64decode(encoded))
            fresh = rewrap(keyring, wrapped, kind.aad(row, tenant))
            await table.update(
                {kind.key_id: fresh.key_id, kind.wrapped: base64.b64encode(fresh.wrapped).decode()}
            ).where((primary_key == last_id) & (kind.key_id == key_id) & (kind.wrapped == encoded))
            rewrapped += 1
