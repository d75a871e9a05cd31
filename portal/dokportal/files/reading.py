"""Opening a stored file: unwrap its data key and stream the decrypted bytes."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from dokportal.crypto import SegmentDecryptor, WrappedKey, blob_aad, unwrap_data_key
from dokportal.crypto.keyring import Keyring
from dokportal.files.tables import StoredFile
from dokportal.storage import BlobStore


async def open_decrypted(
    store: BlobStore, keyring: Keyring, tenant: str, row: StoredFile
) -> AsyncIterator[bytes]:
    """Yield plaintext chunks; raises DecryptionError on any tampering (fails closed)."""
    aad = blob_aad(tenant, row.blob_id)
    wrapped = WrappedKey(key_id=row.key_id, wrapped=base64.b64decode(row.wrapped_key))
    data_key = unwrap_data_key(keyring, wrapped, aad=aad)
    decryptor = SegmentDecryptor(data_key, aad)
    async for chunk in store.read(row.blob_id):
        plain = decryptor.update(chunk)
        if plain:
            yield plain
    tail = decryptor.finalize()
    if tail:
        yield tail


async def delete_blob(store: BlobStore, row: StoredFile) -> None:
    await store.delete(row.blob_id)
