"""Key rotation's second step: rewrap every stored data key with the keyring's primary.

Blobs are never touched (envelope encryption: only the 60-byte wrapped keys change). Row by
row and idempotent, so a Job killed half-way simply runs again; a row already under the primary
is verified and left alone. Only after this succeeded may the operator retire old keys.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from dokportal.crypto import WrappedKey, blob_aad, rewrap
from dokportal.crypto.keyring import Keyring
from dokportal.files.tables import StoredFile

_BATCH = 500


@dataclass(frozen=True)
class RewrapReport:
    examined: int
    rewrapped: int


async def rewrap_all(keyring: Keyring, tenant: str) -> RewrapReport:
    """Rewrap every `stored_file` row not yet under the primary; raise on any that fails."""
    examined = rewrapped = 0
    last_id = 0
    while True:
        rows = (
            await StoredFile.objects()
            .where(StoredFile.id > last_id)
            .order_by(StoredFile.id)
            .limit(_BATCH)
        )
        if not rows:
            return RewrapReport(examined, rewrapped)
        for row in rows:
            examined += 1
            last_id = row.id
            if row.key_id == keyring.primary_id:
                continue
            wrapped = WrappedKey(key_id=row.key_id, wrapped=base64.b64decode(row.wrapped_key))
            fresh = rewrap(keyring, wrapped, blob_aad(tenant, row.blob_id))
            await StoredFile.update(
                {
                    StoredFile.key_id: fresh.key_id,
                    StoredFile.wrapped_key: base64.b64encode(fresh.wrapped).decode(),
                }
            ).where((StoredFile.id == row.id) & (StoredFile.key_id == row.key_id))
            rewrapped += 1
