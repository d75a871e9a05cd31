"""Random access to a sealed blob's plaintext: one authenticated segment at a time.

Why: qpdf needs to seek (the cross-reference table is at a PDF's end), but the design rule
is "never the whole file in memory". Segments are sealed on their own (crypto/segments.py),
so any plaintext offset maps to one segment that can be fetched by a range read and opened
by itself: ``offset // 64 KiB`` is its index, its nonce the same prefix | counter | flag.

Every byte handed out comes from a segment that authenticated, with the nonce the writer
used: a segment moved, dropped or replaced fails; the final segment is opened with the
last-segment flag and must be followed by nothing, so a blob cut at a segment boundary or
with bytes appended fails too. Only the last :data:`CACHED_SEGMENTS` opened segments are
kept, so memory stays at a few segments whatever the blob's size.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag

from dokportal.crypto.errors import DecryptionError
from dokportal.crypto.segments import (
    HEADER_BYTES,
    MAGIC,
    SEALED_SEGMENT_BYTES,
    SEGMENT_BYTES,
    TAG_BYTES,
    _cipher,
    _nonce,
)

CACHED_SEGMENTS = 2
"""Opened segments kept: qpdf reads back and forth near one place (a token that spans a
boundary, the end of the file and its cross-reference table)."""

Fetch = Callable[[int, int], bytes]
"""``fetch(start, length)``: up to ``length`` ciphertext bytes from ``start`` (fewer at the end)."""


class SegmentReader(io.RawIOBase):
    """A seekable, read-only view of a blob's plaintext, decrypted on demand.

    ``plain_size`` is what the writer stored (the ingest counted it). A read raises
    :class:`DecryptionError` for a segment that does not authenticate; the first error is
    also kept in :attr:`failure`, so a caller can tell a damaged blob from a damaged PDF
    even if the parser it was handed to turned the error into its own.
    """

    def __init__(self, data_key: bytes, aad: bytes, plain_size: int, fetch: Fetch) -> None:
        super().__init__()
        if plain_size < 0:
            raise ValueError("size must not be negative")
        self._cipher = _cipher(data_key)
        self._aad = bytes(aad)
        self._size = plain_size
        self._fetch = fetch
        self._count = max(1, -(-plain_size // SEGMENT_BYTES))
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self.failure: BaseException | None = None
        self._prefix = self._guarded(self._read_header)

    @property
    def cached_segments(self) -> int:
        """How many opened segments are held now (never more than :data:`CACHED_SEGMENTS`)."""
        return len(self._cache)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}
        if whence not in bases:
            raise ValueError(f"invalid whence {whence}")
        self._pos = max(0, bases[whence] + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size or not len(buffer):
            return 0
        index, offset = divmod(self._pos, SEGMENT_BYTES)
        plain = self._guarded(lambda: self._segment(index))
        piece = memoryview(plain)[offset : offset + len(buffer)]
        memoryview(buffer).cast("B")[: len(piece)] = piece
        self._pos += len(piece)
        return len(piece)

    def _guarded(self, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except BaseException as error:
            if self.failure is None:
                self.failure = error
            raise

    def _read_header(self) -> bytes:
        header = self._fetch(0, HEADER_BYTES)
        if len(header) != HEADER_BYTES or header[: len(MAGIC)] != MAGIC:
            raise DecryptionError("not a Dokportal blob (bad header)")
        return bytes(header[len(MAGIC) :])

    def _segment(self, index: int) -> bytes:
        """Fetch and open one segment, or take it from the cache."""
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        last = index == self._count - 1
        start = HEADER_BYTES + index * SEALED_SEGMENT_BYTES
        length = self._size - index * SEGMENT_BYTES + TAG_BYTES if last else SEALED_SEGMENT_BYTES
        # One byte more for the final segment: nothing may follow it.
        sealed = self._fetch(start, length + 1 if last else length)
        if len(sealed) != length:
            raise DecryptionError(f"segment {index} is missing or the blob has a wrong size")
        try:
            plain = self._cipher.decrypt(_nonce(self._prefix, index, last=last), sealed, self._aad)
        except InvalidTag:
            raise DecryptionError(f"segment {index} failed authentication") from None
        self._cache[index] = plain
        while len(self._cache) > CACHED_SEGMENTS:
            self._cache.popitem(last=False)
        return plain
