"""The guarded protocol does not hold our own back-pressure against the client.

When the app reads a body more slowly than it arrives (the upload pipeline waiting for a
slow blob store), uvicorn pauses reading the socket; no byte arrives then by our choice.
An app that takes 2.5 s before reading must still get the whole 1 MiB body, although the
idle timeout is 1 s and the minimum rate would be missed in every window.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from dokportal.lib.http_protocol import guarded_protocol
from dokportal.settings import ServerSettings
from tests.support.appliance import free_port

BODY = 1024 * 1024


async def slow_reader(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Waits before reading: the stand-in for a pipeline applying back-pressure."""
    if scope["type"] != "http":
        return
    await asyncio.sleep(2.5)
    received = 0
    while True:
        message = await receive()
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    text = str(received).encode()
    headers = [(b"content-length", str(len(text)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port()
    limits = ServerSettings(
        idle_timeout_seconds=1, min_rate_window_seconds=1, min_body_bytes_per_second=100_000
    )
    config = uvicorn.Config(
        slow_reader, host="127.0.0.1", port=port, http=guarded_protocol(limits), log_level="error"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:  # uvicorn's own flag: set once it listens
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield port
    finally:
        running.should_exit = True
        thread.join(timeout=20)


def test_paused_reading_is_not_held_against_the_client(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=20) as sock:
        head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {BODY}\r\n\r\n".encode()
        sender = threading.Thread(target=sock.sendall, args=(head + b"x" * BODY,))
        sender.start()
        answer = b""
        while True:  # until the server closes (the response says connection: close)
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        sender.join(timeout=20)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert answer.endswith(b"\r\n\r\n" + str(BODY).encode())
