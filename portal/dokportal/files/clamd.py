"""A small client for clamd's INSTREAM command, over a unix socket or TCP.

The protocol is four lines of code, so it is written here rather than pulled in: send
``zINSTREAM\\0``, then the data as chunks each prefixed with its length (4 bytes, big
endian), then a zero length; clamd answers one NUL-terminated line, ``stream: OK``,
``stream: <signature> FOUND`` or ``<reason> ERROR``. clamd refuses streams longer than its
``StreamMaxLength`` (25 MiB by default) with an ERROR, so the client counts and stops before
that with :class:`ScanError` instead of having the connection cut under it.

Plaintext only ever travels from the decrypting reader to the socket, chunk by chunk; nothing
is written to disk here.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

CHUNK_BYTES = 64 * 1024
"""Bytes per INSTREAM chunk: clamd's default ``StreamMaxLength`` and buffers handle this well."""

MAX_REPLY_BYTES = 4096


class ClamdUnavailable(Exception):
    """clamd could not be reached or did not answer in time: try again later."""


class ScanError(Exception):
    """clamd answered, but could not scan this stream (``... ERROR``) or it is too long."""


@dataclass(frozen=True)
class Verdict:
    """``signature`` is the name of what clamd found; ``None`` means the stream is clean."""

    signature: str | None

    @property
    def clean(self) -> bool:
        return self.signature is None


@dataclass(frozen=True)
class ClamdAddress:
    """``unix:///run/clamav/clamd.ctl`` or ``tcp://clamd:3310``."""

    path: str | None = None
    host: str | None = None
    port: int = 3310

    @classmethod
    def parse(cls, url: str) -> ClamdAddress:
        parts = urlsplit(url)
        if parts.scheme == "unix" and parts.path:
            return cls(path=parts.path)
        if parts.scheme == "tcp" and parts.hostname:
            return cls(host=parts.hostname, port=parts.port or 3310)
        raise ValueError("clamd must be unix:///path/to/clamd.sock or tcp://host:3310")

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.path is not None:
            return await asyncio.open_unix_connection(self.path)
        return await asyncio.open_connection(self.host, self.port)


def parse_reply(reply: bytes) -> Verdict:
    """Turn clamd's answer line into a verdict; anything else is a :class:`ScanError`."""
    text = reply.rstrip(b"\0\n").decode("utf-8", "replace").strip()
    if text == "stream: OK":
        return Verdict(signature=None)
    if text.startswith("stream: ") and text.endswith(" FOUND"):
        name = text[len("stream: ") : -len(" FOUND")].strip()
        return Verdict(signature=name[:200] or "unknown")
    raise ScanError(text[:200] or "no answer")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


class Clamd:
    """One clamd; every call opens its own connection (clamd handles them in parallel)."""

    def __init__(self, address: ClamdAddress, *, timeout: float, max_bytes: int) -> None:
        self.address = address
        self.timeout = timeout
        self.max_bytes = max_bytes

    async def ping(self) -> bool:
        """``PONG`` within the timeout; never raises."""
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self.address.connect()
                try:
                    writer.write(b"zPING\0")
                    await writer.drain()
                    return await reader.readuntil(b"\0") == b"PONG\0"
                finally:
                    await _close(writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return False

    async def scan(self, chunks: AsyncIterator[bytes]) -> Verdict:
        """Stream ``chunks`` to clamd. :class:`ClamdUnavailable` when clamd cannot be reached
        or stalls (the whole scan has ``timeout`` seconds), :class:`ScanError` when it refuses.
        """
        try:
            async with asyncio.timeout(self.timeout):
                return await self._scan(chunks)
        except TimeoutError as error:
            raise ClamdUnavailable("clamd did not answer in time") from error

    async def _scan(self, chunks: AsyncIterator[bytes]) -> Verdict:
        try:
            reader, writer = await self.address.connect()
        except OSError as error:
            raise ClamdUnavailable(f"cannot connect to clamd: {error.strerror or error}") from error
        # Read while writing: clamd answers (e.g. "size limit exceeded") and closes early,
        # and a reader started only after a failed write would see the broken pipe instead.
        answer = asyncio.ensure_future(reader.readuntil(b"\0"))
        try:
            # If clamd stopped reading, its answer says why.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self._send(writer, chunks)
            try:
                reply = await answer
            except asyncio.IncompleteReadError as error:
                if not error.partial:
                    raise ClamdUnavailable("clamd closed the connection") from error
                reply = error.partial
            except asyncio.LimitOverrunError as error:
                raise ScanError("clamd's answer is too long") from error
            except (BrokenPipeError, ConnectionResetError) as error:
                raise ScanError("clamd closed the stream before its end") from error
            return parse_reply(reply[:MAX_REPLY_BYTES])
        finally:
            if not answer.done():
                answer.cancel()
            elif not answer.cancelled():
                answer.exception()  # retrieved, so asyncio does not report it as lost
            await _close(writer)

    async def _send(self, writer: asyncio.StreamWriter, chunks: AsyncIterator[bytes]) -> None:
        sent = 0
        writer.write(b"zINSTREAM\0")
        async for chunk in chunks:
            for start in range(0, len(chunk), CHUNK_BYTES):
                piece = chunk[start : start + CHUNK_BYTES]
                sent += len(piece)
                if sent > self.max_bytes:
                    raise ScanError(f"longer than the stream limit of {self.max_bytes} bytes")
                writer.write(struct.pack(">I", len(piece)) + piece)
                await writer.drain()
        writer.write(struct.pack(">I", 0))
        await writer.drain()
