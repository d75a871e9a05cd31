"""uvicorn's httptools protocol with the limits it lacks: head size, idle time, minimum rate.

Measured before (issue 12): a single 32 MiB header was accepted (httptools buffers a header
whole before uvicorn sees it, four in parallel added 200 MB of RSS), and a body trickled at
one byte every two seconds was never timed out. ASGI middleware cannot help with either:
the head is parsed before the app runs, and a body the app is not asking for yet is not its
concern. So the limits live where the bytes arrive:

* the bytes of an unfinished request head are counted as they are received, and the
  request line and headers as the parser hands them over; past ``max_header_bytes`` the
  answer is 431 and the connection is closed, so memory stays at the limit plus one read
  (asyncio reads at most 256 KiB at a time);
* the request target is checked as llhttp hands it over; past ``max_request_line_bytes``
  the answer is 414;
* a timer per connection (a few times per idle period, only while a head or body is
  unfinished) closes it with 408 when no byte came for ``idle_timeout_seconds``, or when a
  body sent fewer than ``min_body_bytes_per_second`` over a window. Windows in which the
  server itself paused reading (the upload pipeline applying back-pressure) do not count.

Per received chunk this adds two attribute updates to uvicorn's own ``data_received`` —
nothing per ASGI message, nothing on the upload's hot path.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dokportal.settings import ServerSettings

logger = logging.getLogger("dokportal.http")


class _Refused(Exception):
    """Raised inside a parser callback; httptools turns it into a parser error."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Configured through :func:`guarded_protocol`, which sets :attr:`limits`."""

    limits: ServerSettings = ServerSettings()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._head_bytes = 0
        self._refusal: HTTPStatus | None = None
        self._parsed_head = 0
        now = self.loop.time()
        self._last_data = now
        self._window_start = now
        self._window_bytes = 0
        self._window_paused = False
        self._tick = min(self.limits.idle_timeout_seconds, self.limits.min_rate_window_seconds) / 4
        self._watchdog: asyncio.TimerHandle | None = self.loop.call_later(self._tick, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        self._window_bytes += len(data)
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)

    # Parser callbacks (called from inside super().data_received)
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_head = 0

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > self.limits.max_request_line_bytes:
            self._refusal = HTTPStatus.REQUEST_URI_TOO_LONG
            raise _Refused
        self._parsed_head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # A head that arrived in one read (asyncio reads up to 256 KiB) is complete before
        # data_received can look at it: count what the parser hands over, too.
        self._parsed_head += len(name) + len(value) + 4
        if self._parsed_head > self.limits.max_header_bytes:
            self._refusal = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._start_window()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # whatever comes next on this connection is a new head

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            super().send_400_response(msg)

    # The watchdog
    def _start_window(self) -> None:
        self._window_start = self.loop.time()
        self._window_bytes = 0
        self._window_paused = False

    def _receiving_body(self) -> bool:
        cycle = self.cycle
        return (
            not self._in_head
            and cycle is not None
            and cycle.more_body
            and not cycle.response_complete
            and not cycle.disconnected
        )

    def _watch(self) -> None:
        self._watchdog = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        head_open = self._in_head and self._head_bytes > 0
        body_open = self._receiving_body()
        if self.flow.read_paused or not (head_open or body_open):
            # Back-pressure from our side, or nothing unfinished: nothing to hold against
            # the client. The keep-alive timeout handles idle connections between requests.
            self._last_data = now
            self._window_paused = True
        elif now - self._last_data > self.limits.idle_timeout_seconds:
            self._timed_out("no data for %.0f s", self.limits.idle_timeout_seconds)
            return
        elif body_open and now - self._window_start >= self.limits.min_rate_window_seconds:
            rate = self._window_bytes / (now - self._window_start)
            if not self._window_paused and rate < self.limits.min_body_bytes_per_second:
                self._timed_out("body at %.0f bytes/s", rate)
                return
            self._start_window()
        if not body_open:
            self._start_window()
        self._watchdog = self.loop.call_later(self._tick, self._watch)

    def _timed_out(self, why: str, value: float) -> None:
        client = self.client[0] if self.client else "-"
        logger.warning("request from %s timed out: " + why, client, value)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not self._in_head:
            cycle.keep_alive = False
        if cycle is None or self._in_head or not cycle.response_started:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT)
        else:
            self.transport.close()

    def _refuse(self, status: HTTPStatus) -> None:
        """Answer ``status`` in plain text and close: the request is not read any further."""
        if self.transport.is_closing():
            return
        text = f"{status.value} {status.phrase}\n".encode("ascii")
        head = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii")]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: " + str(len(text)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + text)
        self.transport.close()


def guarded_protocol(limits: ServerSettings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with these limits."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
