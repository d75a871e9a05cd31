"""The clamd protocol client and the scan-state rules, without a database."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from dokportal.files.clamd import (
    Clamd,
    ClamdAddress,
    ClamdUnavailable,
    ScanError,
    parse_reply,
)
from dokportal.files.scanning import (
    FileBeingChecked,
    ensure_servable,
    initial_state,
    split_servable,
)
from dokportal.files.tables import StoredFile
from dokportal.lib.errors import Forbidden
from dokportal.settings import ScanSettings, Settings


def test_replies() -> None:
    assert parse_reply(b"stream: OK\0").clean
    found = parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0")
    assert not found.clean and found.signature == "Win.Test.EICAR_HDB-1"
    with pytest.raises(ScanError, match="size limit"):
        parse_reply(b"INSTREAM size limit exceeded. ERROR\0")
    with pytest.raises(ScanError):
        parse_reply(b"")


def test_addresses() -> None:
    assert ClamdAddress.parse("unix:///run/clamav/clamd.ctl").path == "/run/clamav/clamd.ctl"
    tcp = ClamdAddress.parse("tcp://clamd.portal-a.svc:3311")
    assert (tcp.host, tcp.port) == ("clamd.portal-a.svc", 3311)
    assert ClamdAddress.parse("tcp://clamd").port == 3310
    for bad in ("clamd:3310", "http://clamd", "unix://", "tcp://"):
        with pytest.raises(ValueError, match="clamd must be"):
            ClamdAddress.parse(bad)


def test_settings_refuse_a_stream_limit_below_the_upload_limit() -> None:
    assert not Settings().scan.enabled
    with pytest.raises(ValidationError, match="stream_max_mb"):
        Settings(scan={"clamd": "tcp://clamd"}, upload={"max_file_mb": 30})
    with pytest.raises(ValidationError, match="clamd must be"):
        Settings(scan={"clamd": "clamd:3310"})
    assert Settings(scan={"clamd": "tcp://clamd"}).scan.enabled


def test_states_decide_what_is_served() -> None:
    assert initial_state(ScanSettings()) == "unscanned"
    assert initial_state(ScanSettings(clamd="tcp://clamd")) == "pending"
    rows = {
        state: StoredFile(display_name=f"{state}.pdf", scan_state=state)
        for state in ("unscanned", "clean", "pending", "infected", "error")
    }
    ensure_servable(rows["unscanned"])
    ensure_servable(rows["clean"])
    with pytest.raises(FileBeingChecked) as waiting:
        ensure_servable(rows["pending"])
    assert waiting.value.status_code == 409
    for state in ("infected", "error"):
        with pytest.raises(Forbidden):
            ensure_servable(rows[state])
    kept, left_out = split_servable([rows["clean"], rows["infected"], rows["unscanned"]])
    assert (kept, left_out) == ([rows["clean"], rows["unscanned"]], [rows["infected"]])
    with pytest.raises(FileBeingChecked):
        split_servable([rows["clean"], rows["pending"]])


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_the_client_speaks_instream_in_chunks(tmp_path: Path) -> None:
    """A stand-in server records what arrives: the command, length-prefixed chunks, a
    zero-length end; it answers like clamd."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readexactly(len(b"zINSTREAM\0")))
        while True:
            (size,) = struct.unpack(">I", await reader.readexactly(4))
            if size == 0:
                break
            received.append(await reader.readexactly(size))
        writer.write(b"stream: Test.Sig FOUND\0")
        await writer.drain()
        writer.close()

    path = tmp_path / "fake.sock"
    server = await asyncio.start_unix_server(serve, path=str(path))
    async with server:
        clamd = Clamd(ClamdAddress(path=str(path)), timeout=5, max_bytes=1 << 20)
        verdict = await clamd.scan(_chunks(b"a" * 100_000, b"b"))
        assert verdict.signature == "Test.Sig"
        assert received[0] == b"zINSTREAM\0"
        assert [len(chunk) for chunk in received[1:]] == [65536, 100_000 - 65536, 1]
        # Over the limit: stopped by the client, before clamd would cut the stream.
        small = Clamd(ClamdAddress(path=str(path)), timeout=5, max_bytes=1000)
        with pytest.raises(ScanError, match="stream limit"):
            await small.scan(_chunks(b"x" * 2000))


async def test_nobody_listening_or_a_silent_server_is_unavailable(tmp_path: Path) -> None:
    nobody = Clamd(ClamdAddress(path=str(tmp_path / "none.sock")), timeout=5, max_bytes=100)
    with pytest.raises(ClamdUnavailable):
        await nobody.scan(_chunks(b"x"))
    assert not await nobody.ping()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers
        writer.close()

    path = tmp_path / "silent.sock"
    server = await asyncio.start_unix_server(silent, path=str(path))
    async with server:
        stalled = Clamd(ClamdAddress(path=str(path)), timeout=0.2, max_bytes=100)
        with pytest.raises(ClamdUnavailable, match="in time"):
            await stalled.scan(_chunks(b"x"))
