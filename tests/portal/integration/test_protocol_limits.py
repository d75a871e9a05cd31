"""Protocol limits of the real server process, probed with raw sockets.

``dokportal run`` starts with small limits (a 4 KiB head, a 1 KiB request line, a 1 s idle
timeout, 2000 bytes/s over 2 s windows, two uploads per client), so each test finishes in
seconds; time bounds are generous (the limit is seconds, the bound ten). Before issue 12 a
32 MiB header was accepted and a body trickled at one byte every two seconds never ended.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.appliance import Appliance, running_appliance

LIMITS = {
    "DOKPORTAL_SERVER__MAX_HEADER_BYTES": "4096",
    "DOKPORTAL_SERVER__MAX_REQUEST_LINE_BYTES": "1024",
    "DOKPORTAL_SERVER__IDLE_TIMEOUT_SECONDS": "1",
    "DOKPORTAL_SERVER__MIN_BODY_BYTES_PER_SECOND": "2000",
    "DOKPORTAL_SERVER__MIN_RATE_WINDOW_SECONDS": "2",
    "DOKPORTAL_SERVER__MAX_UPLOADS_PER_CLIENT": "2",
}
BOUND = 10.0  # seconds; every limit under test is at most 2 s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Appliance]:
    with running_appliance(tmp_path_factory.mktemp("limits"), env=LIMITS) as app:
        yield app


@pytest.fixture(scope="module")
def customer_cookie(server: Appliance) -> str:
    """The demo customer, activated: the Cookie header of a signed-in browser."""
    code = server.activation_code
    assert code, server.output
    with httpx.Client(base_url=server.url) as browser:
        page = browser.get("/activate").text
        match = re.search(r'name="_csrf" value="([0-9a-f]+)"', page)
        assert match
        done = browser.post(
            "/activate",
            data={
                "_csrf": match.group(1),
                "customer_number": "123D000001",
                "code": code,
                "password": "Sonnenblume-2026",
                "password_repeat": "Sonnenblume-2026",
            },
        )
        assert done.status_code == 303, done.text[:300]
        return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def _connect(server: Appliance) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=BOUND)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or BOUND passes)."""
    data = b""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


def _send_all_you_can(sock: socket.socket, data: bytes) -> int:
    """Send ``data`` in pieces until done or the server closed on us; returns bytes sent."""
    sent = 0
    try:
        for start in range(0, len(data), 16384):
            sock.sendall(data[start : start + 16384])
            sent = start + 16384
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def test_an_ordinary_request_passes(server: Appliance) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: "
            + b"p" * 3000
            + b"\r\nConnection: close\r\n\r\n"
        )
        assert _status(_answer(sock)) == 200


def test_a_huge_header_is_431_and_not_read_to_the_end(server: Appliance) -> None:
    huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (32 * 1024 * 1024) + b"\r\n\r\n"
    with _connect(server) as sock:
        sent = _send_all_you_can(sock, huge)
        answer = _answer(sock)
    assert _status(answer) == 431
    # The server closed long before 32 MiB: it does not buffer a header it will refuse.
    assert sent < len(huge)


def test_many_small_headers_count_together(server: Appliance) -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: " + b"b" * 100 + b"\r\n" * 1
    head += b"".join(f"X-H{i}: {'c' * 100}\r\n".encode() for i in range(60)) + b"\r\n"
    with _connect(server) as sock:
        _send_all_you_can(sock, head)
        assert _status(_answer(sock)) == 431


def test_a_long_request_line_is_414(server: Appliance) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /" + b"x" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(_answer(sock)) == 414


def test_a_stalled_head_is_408(server: Appliance) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        answer = _answer(sock)
        assert _status(answer) == 408
        assert time.monotonic() - started < BOUND


def _post_head(path: str, length: int, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_stalled_body_is_408(server: Appliance) -> None:
    with _connect(server) as sock:
        sock.sendall(_post_head("/signin", 1000, "application/x-www-form-urlencoded") + b"a=1")
        started = time.monotonic()
        answer = _answer(sock)
        assert _status(answer) == 408
        assert time.monotonic() - started < BOUND


def test_a_trickled_body_is_cut_off(server: Appliance) -> None:
    """A byte every 0.3 s never trips the 1 s idle timeout, but the minimum rate."""
    with _connect(server) as sock:
        sock.sendall(_post_head("/signin", 100_000, "application/x-www-form-urlencoded"))
        sock.settimeout(0.3)
        started = time.monotonic()
        answer: bytes | None = None
        while answer is None and time.monotonic() - started < BOUND:
            try:
                sock.sendall(b"a")
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                answer = b""
        assert answer is not None, "the server kept a 3 bytes/s body open"
        assert answer == b"" or _status(answer) == 408
        assert time.monotonic() - started > 1.5  # it was the rate, not the idle timeout


def test_concurrent_uploads_per_client_are_limited(server: Appliance, customer_cookie: str) -> None:
    """Two uploads in progress from one address; a third, to any upload route, gets 429
    before its body is read."""
    boundary = "limit-test"
    head = (
        f"POST /documents HTTP/1.1\r\nHost: x\r\nCookie: {customer_cookie}\r\n"
        "Accept-Language: en\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        "Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    opened = []
    try:
        for _ in range(2):
            sock = _connect(server)
            opened.append(sock)
            sock.sendall(head)
            # "100 Continue" comes when the upload handler starts reading: it holds a slot.
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        with _connect(server) as third:
            other_route = head.replace(b"Expect: 100-continue\r\n", b"").replace(
                b"POST /documents", b"POST /staff/customers/123D000001/notices"
            )
            third.sendall(other_route)
            answer = _answer(third)
        assert _status(answer) == 429
        assert b"several uploads" in answer
    finally:
        for sock in opened:
            sock.close()
    # Slots are given back: a fourth upload is read again.
    with _connect(server) as fourth:
        fourth.sendall(head)
        assert fourth.recv(100).startswith(b"HTTP/1.1 100 Continue")
