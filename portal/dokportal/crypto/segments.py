"""Streaming AES-256-GCM in fixed segments (the STREAM construction, Hoang et al. 2015).

Why segments: uploads and downloads are streamed, so we can neither hold a whole file
in memory nor wait for the end to authenticate it. Each 64 KiB segment is sealed on
its own; its nonce carries a counter (so segments cannot be reordered, dropped or
duplicated) and a last-segment flag (so a file cut at a segment boundary is detected).
The random nonce prefix differs per file, so segments spliced in from another file
fail too, even under the same key.

Format::

    header  = MAGIC (4: "DKP" 0x01) | nonce prefix (7 random bytes)
    segment = AES-GCM(key, nonce, plaintext <= 64 KiB, aad) = ciphertext | tag (16)
    nonce   = prefix (7) | counter (4, big-endian, from 0) | last flag (1: 0 or 1)

Every segment but the last holds exactly 64 KiB of plaintext; the last holds 0 to
64 KiB (an empty file is one empty last segment). Memory use is O(segment size).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dokportal.crypto.errors import CryptoError, DecryptionError

FORMAT_VERSION = 1
MAGIC = b"DKP\x01"
PREFIX_BYTES = 7
HEADER_BYTES = len(MAGIC) + PREFIX_BYTES
SEGMENT_BYTES = 64 * 1024
TAG_BYTES = 16
SEALED_SEGMENT_BYTES = SEGMENT_BYTES + TAG_BYTES
MAX_SEGMENTS = 2**32
"""The counter has 4 bytes: 2**32 segments (256 TiB); beyond, nonces would repeat."""

_KEY_BYTES = 32
Chunk = bytes | bytearray | memoryview
"""What `update` accepts: any contiguous bytes, so callers need not copy."""
_AAD_CONTEXT = b"dokportal/blob\x00"


def blob_aad(tenant: str, blob_id: str) -> bytes:
    """Build associated data binding a blob to its tenant, id and format version.

    Length-prefixed, so no two (tenant, blob_id) pairs can produce the same bytes.
    """
    parts = [_AAD_CONTEXT, FORMAT_VERSION.to_bytes(2, "big")]
    for value in (tenant, blob_id):
        encoded = value.encode("utf-8")
        if not encoded or len(encoded) > 0xFFFF:
            raise ValueError("tenant and blob id must be 1 to 65535 bytes")
        parts += [len(encoded).to_bytes(2, "big"), encoded]
    return b"".join(parts)


def ciphertext_size(plain_size: int) -> int:
    """Return the exact stored size of `plain_size` bytes (quotas, Content-Length)."""
    if plain_size < 0:
        raise ValueError("size must not be negative")
    segments = max(1, -(-plain_size // SEGMENT_BYTES))
    return HEADER_BYTES + plain_size + segments * TAG_BYTES


def plaintext_size(cipher_size: int) -> int:
    """Invert `ciphertext_size` (a download's length); ValueError if impossible."""
    body = cipher_size - HEADER_BYTES - TAG_BYTES
    full, rest = divmod(body, SEALED_SEGMENT_BYTES)
    # The last segment holds 1..64 KiB, or 0 bytes only when it is the only one.
    if body < 0 or rest > SEGMENT_BYTES or (full and not rest):
        raise ValueError(f"{cipher_size} is not a valid ciphertext size")
    return full * SEGMENT_BYTES + rest


class SegmentEncryptor:
    """Encrypt a stream: ``header()``, then ``update()`` per chunk, then ``finalize()``.

    `update` holds back the last (up to) 64 KiB, because only `finalize` knows which
    segment is the last one and must carry the flag.
    """

    def __init__(self, data_key: bytes, aad: bytes) -> None:
        """Start a new blob: a fresh random nonce prefix, counter at 0."""
        self._cipher = _cipher(data_key)
        self._aad = bytes(aad)
        self._prefix = secrets.token_bytes(PREFIX_BYTES)
        self._framer = _Framer(SEGMENT_BYTES)
        self._counter = 0
        self._state = "new"  # new -> open (header fetched) -> finished | failed

    def header(self) -> bytes:
        """Return the 11-byte header; fetch and write it before any segment."""
        if self._state == "new":
            self._state = "open"
        return MAGIC + self._prefix

    def update(self, chunk: Chunk) -> bytes:
        """Feed plaintext; return the sealed segments now complete (maybe none)."""
        self._check_open()
        try:
            return b"".join(self._seal(piece, last=False) for piece in self._framer.feed(chunk))
        except BaseException:
            self._state = "failed"  # the framer lost track of the input: never continue
            raise

    def finalize(self) -> bytes:
        """Seal the buffered rest as the last segment; the encryptor is then spent."""
        self._check_open()
        self._state = "failed"
        sealed = self._seal(self._framer.rest(), last=True)
        self._state = "finished"
        return sealed

    def _check_open(self) -> None:
        if self._state == "new":
            raise CryptoError("call header() and write it before the segments")
        if self._state != "open":
            raise CryptoError(f"encryptor is {self._state}")

    def _seal(self, plaintext: bytes | memoryview, *, last: bool) -> bytes:
        nonce = _nonce(self._prefix, self._counter, last=last)
        self._counter += 1
        return self._cipher.encrypt(nonce, plaintext, self._aad)


class SegmentDecryptor:
    """Decrypt a stream: ``update()`` per chunk (header included), then ``finalize()``.

    Plaintext is only ever returned for segments that authenticated. But a stream is
    only *complete* once `finalize` returns: truncation shows up there, so a consumer
    must treat earlier output as tentative (a download aborts the connection instead of
    ending cleanly). After any `DecryptionError` the decryptor refuses further input.
    """

    def __init__(self, data_key: bytes, aad: bytes) -> None:
        """Prepare to read one blob encrypted with `data_key` and `aad`."""
        self._cipher = _cipher(data_key)
        self._aad = bytes(aad)
        self._header = bytearray()
        self._prefix = b""
        self._framer = _Framer(SEALED_SEGMENT_BYTES)
        self._counter = 0
        self._state = "open"

    def update(self, chunk: Chunk) -> bytes:
        """Feed ciphertext; return the plaintext of segments known to be non-final."""
        self._check_open()
        try:
            view = self._take_header(memoryview(chunk))
            return b"".join(self._open(piece, last=False) for piece in self._framer.feed(view))
        except BaseException:
            self._state = "failed"
            raise

    def finalize(self) -> bytes:
        """Open the last segment; raise if the stream was cut short."""
        self._check_open()
        self._state = "failed"
        if not self._prefix:
            raise DecryptionError("ciphertext is shorter than its header")
        rest = self._framer.rest()
        if len(rest) < TAG_BYTES:
            raise DecryptionError("ciphertext is truncated (no final segment)")
        plaintext = self._open(rest, last=True)
        self._state = "finished"
        return plaintext

    def _check_open(self) -> None:
        if self._state == "failed":
            raise DecryptionError("decryptor is unusable after a failure")
        if self._state == "finished":
            raise CryptoError("decryptor already finalized")

    def _take_header(self, view: memoryview) -> memoryview:
        if self._prefix:
            return view
        need = HEADER_BYTES - len(self._header)
        self._header += view[:need]
        if self._header[: len(MAGIC)] != MAGIC[: len(self._header)]:
            raise DecryptionError("not a Dokportal blob (bad header)")
        if len(self._header) == HEADER_BYTES:
            self._prefix = bytes(self._header[len(MAGIC) :])
        return view[need:]

    def _open(self, sealed: bytes | memoryview, *, last: bool) -> bytes:
        if self._counter >= MAX_SEGMENTS:
            raise DecryptionError("too many segments")
        nonce = _nonce(self._prefix, self._counter, last=last)
        try:
            plaintext = self._cipher.decrypt(nonce, sealed, self._aad)
        except InvalidTag:
            raise DecryptionError(f"segment {self._counter} failed authentication") from None
        self._counter += 1
        return plaintext


class _Framer:
    """Cut a stream into `size`-byte pieces, holding back the last (maybe full) one.

    Holding back is what makes the last-segment flag work: a piece is only released
    once a byte after it has been seen. Input slices pass through as memoryviews, so a
    large chunk is not copied into the buffer first.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._buffer = bytearray()

    def feed(self, chunk: Chunk) -> Iterator[bytes | memoryview]:
        data = memoryview(chunk)
        size = self._size
        if self._buffer:
            need = size - len(self._buffer)
            if len(data) <= need:
                self._buffer += data
                return
            self._buffer += data[:need]
            data = data[need:]
            piece = bytes(self._buffer)
            self._buffer.clear()
            yield piece
        while len(data) > size:
            yield data[:size]
            data = data[size:]
        self._buffer += data

    def rest(self) -> bytes:
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


def _cipher(data_key: bytes) -> AESGCM:
    # One AESGCM object per stream: key setup happens once, not per 64 KiB segment.
    if len(data_key) != _KEY_BYTES:
        raise ValueError(f"data key must be {_KEY_BYTES} bytes, got {len(data_key)}")
    return AESGCM(data_key)


def _nonce(prefix: bytes, counter: int, *, last: bool) -> bytes:
    if counter >= MAX_SEGMENTS:
        raise CryptoError("segment counter overflow: blob too large")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
