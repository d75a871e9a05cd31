"""Opening a stored file: unwrap its data key and stream the decrypted bytes.

Everything that can fail for reasons other than a broken blob happens *before* the first
byte of a response: the key is looked up and the data key unwrapped, and the first chunk
of the blob is fetched. A download whose key is not in the keyring, or whose store is
down, then answers 503 with a page instead of ``200 OK`` with its length and digest
headers followed by an empty body.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterable

from dokportal.crypto import SegmentDecryptor, WrappedKey, blob_aad, unwrap_data_key
from dokportal.crypto.keyring import Keyring
from dokportal.files.tables import StoredFile
from dokportal.lib.errors import KeyUnavailable
from dokportal.storage import BlobStore

log = logging.getLogger("dokportal.files")


def require_keys(keyring: Keyring, rows: Iterable[StoredFile]) -> None:
    """Raise `KeyUnavailable` (503) if any file's key is not in the keyring.

    For responses that open several files while streaming (ZIP bundles): checked up front.
    """
    missing = sorted({row.key_id for row in rows if row.key_id not in keyring})
    if missing:
        log.error("download refused: key(s) %s not in the keyring", ", ".join(missing))
        raise KeyUnavailable(
            "This document cannot be opened at the moment: the key to decrypt it is not "
            "available. Nothing was lost. Please try again later; if this stays, tell the "
            "office's IT support."
        )


async def open_decrypted(
    store: BlobStore, keyring: Keyring, tenant: str, row: StoredFile
) -> AsyncIterator[bytes]:
    """Check the key, unwrap it and fetch the first chunk; then return the plaintext stream.

    Raises `KeyUnavailable`, `DecryptionError` or a storage error here, before the caller
    starts a response; later tampering still raises `DecryptionError` (fails closed).
    """
    require_keys(keyring, [row])
    aad = blob_aad(tenant, row.blob_id)
    wrapped = WrappedKey(key_id=row.key_id, wrapped=base64.b64decode(row.wrapped_key))
    data_key = unwrap_data_key(keyring, wrapped, aad=aad)
    chunks = aiter(store.read(row.blob_id))
    first = await anext(chunks, b"")
    return _decrypt(SegmentDecryptor(data_key, aad), first, chunks)


async def _decrypt(
    decryptor: SegmentDecryptor, first: bytes, rest: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    chunk: bytes | None = first
    while chunk is not None:
        plain = decryptor.update(chunk)
        if plain:
            yield plain
        chunk = await anext(rest, None)
    tail = decryptor.finalize()
    if tail:
        yield tail


async def opened_lazily(
    store: BlobStore, keyring: Keyring, tenant: str, row: StoredFile
) -> AsyncIterator[bytes]:
    """`open_decrypted` as a plain stream, for bundles that open each file in turn."""
    async for chunk in await open_decrypted(store, keyring, tenant, row):
        yield chunk


async def delete_blob(store: BlobStore, row: StoredFile) -> None:
    await store.delete(row.blob_id)
