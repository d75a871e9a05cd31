"""The one pipeline every stored file goes through: limits, type, hash, encryption, storage.

A file is fed in chunks as it arrives. Nothing is held in memory beyond one encryption
segment, nothing is written in plaintext, and the database row is written by the caller only
after :meth:`FileIngest.finish` returned, i.e. after the blob is durable.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from dokportal.crypto import SegmentEncryptor, blob_aad, new_data_key, wrap_data_key
from dokportal.crypto.keyring import Keyring
from dokportal.files import sniffing
from dokportal.files.names import display_name
from dokportal.files.tables import StoredFile
from dokportal.lib.errors import BadRequest, TooLarge, UnsupportedType
from dokportal.storage import BlobStore, BlobWriter, new_blob_id

FORMAT_VERSION = 1

TYPE_WORDS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}


@dataclass(frozen=True)
class Ingested:
    """What the caller records once the blob is safely stored."""

    blob_id: str
    key_id: str
    wrapped_key: str
    size: int
    sha256: str
    content_type: str
    display_name: str

    def as_row(self) -> StoredFile:
        return StoredFile(
            blob_id=self.blob_id,
            key_id=self.key_id,
            wrapped_key=self.wrapped_key,
            format_version=FORMAT_VERSION,
            size=self.size,
            sha256=self.sha256,
            content_type=self.content_type,
            display_name=self.display_name,
        )


def accepted_words(allowed: frozenset[str]) -> str:
    return ", ".join(sorted(TYPE_WORDS.get(kind, kind) for kind in allowed))


class FileIngest:
    """One file on its way into the blob store."""

    def __init__(
        self,
        *,
        store: BlobStore,
        keyring: Keyring,
        tenant: str,
        filename: str,
        max_bytes: int,
        max_words: str,
        allowed: frozenset[str],
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._tenant = tenant
        self._raw_name = filename
        self.display_name = display_name(filename)
        self._max_bytes = max_bytes
        self._max_words = max_words
        self._allowed = allowed
        self._head = b""
        self._content_type: str | None = None
        self._size = 0
        self._digest = hashlib.sha256()
        self._writer: BlobWriter | None = None
        self._encryptor: SegmentEncryptor | None = None
        self._blob_id = new_blob_id()
        self._wrapped: tuple[str, str] | None = None

    async def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._size += len(chunk)
        if self._size > self._max_bytes:
            raise TooLarge(
                "The file %(name)s is too large. Each file may have at most %(limit)s.",
                name=self.display_name,
                limit=self._max_words,
            )
        self._digest.update(chunk)
        if self._content_type is None:
            self._head += chunk
            if len(self._head) < sniffing.SNIFF_BYTES:
                return
            await self._start()
            chunk, self._head = self._head, b""
        await self._write(chunk)

    async def _start(self) -> None:
        kind = sniffing.sniff(self._head)
        if kind is None or kind not in self._allowed:
            raise UnsupportedType(
                "The file %(name)s is not a supported document. Accepted are: %(types)s.",
                name=self.display_name,
                types=accepted_words(self._allowed),
            )
        if sniffing.extension_contradicts(self._raw_name, kind):
            raise UnsupportedType(
                "The file %(name)s is not what its name says. Accepted are: %(types)s.",
                name=self.display_name,
                types=accepted_words(self._allowed),
            )
        self._content_type = kind
        data_key = new_data_key()
        aad = blob_aad(self._tenant, self._blob_id)
        wrapped = wrap_data_key(self._keyring, data_key, aad=aad)
        self._wrapped = (wrapped.key_id, base64.b64encode(wrapped.wrapped).decode())
        self._encryptor = SegmentEncryptor(data_key, aad)
        self._writer = await self._store.open_writer(self._blob_id)
        await self._writer.write(self._encryptor.header())

    async def _write(self, chunk: bytes) -> None:
        assert self._encryptor is not None and self._writer is not None
        sealed = self._encryptor.update(chunk)
        if sealed:
            await self._writer.write(sealed)

    async def finish(self) -> Ingested:
        """Seal the last segment and make the blob durable."""
        if self._size == 0:
            raise BadRequest("The file %(name)s is empty.", name=self.display_name)
        if self._content_type is None:
            await self._start()
            head, self._head = self._head, b""
            await self._write(head)
        assert self._encryptor is not None and self._writer is not None
        assert self._content_type is not None and self._wrapped is not None
        await self._writer.write(self._encryptor.finalize())
        await self._writer.commit()
        return Ingested(
            blob_id=self._blob_id,
            key_id=self._wrapped[0],
            wrapped_key=self._wrapped[1],
            size=self._size,
            sha256=self._digest.hexdigest(),
            content_type=self._content_type,
            display_name=self.display_name,
        )

    async def abort(self) -> None:
        """Remove whatever was written; safe to call at any point, more than once."""
        if self._writer is not None:
            await self._writer.abort()
