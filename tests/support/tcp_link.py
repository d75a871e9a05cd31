"""A TCP link to a real server that a test can cut, for network faults without mocks.

Bytes pass through unchanged in both directions. `TcpLink.cut` drops every open
connection and resets every new one, so the client sees what it would if the server's
pod died or the network failed mid-request; `TcpLink.restore` lets connections through
again (clients reconnect, as after a real outage). Plain threads and blocking sockets:
the link works whatever event loop, or none, the client runs in.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress


class TcpLink:
    """Forwards `listen`:`port` to `target`; see the module docstring.

    `listen` is 127.0.0.1 unless a test needs another local address (the real node's
    bridge address, so that its pods reach a server on this machine's loopback).
    """

    def __init__(self, target: tuple[str, int], listen: str = "127.0.0.1") -> None:
        self._target = target
        self._listen = listen
        self._listener = socket.create_server((listen, 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        self._cut = False
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._listen}:{self.port}"

    def cut(self) -> None:
        """Break every open connection and refuse new ones until `restore`."""
        with self._lock:
            self._cut = True
            connections = list(self._connections)
        for connection in connections:
            connection.break_off()

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def _start(self) -> None:
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was shut down: the link is closing
                return
            with self._lock:
                refused = self._cut
            server = None if refused else _connect(self._target)
            if server is None:
                _reset(client)
                continue
            connection = _Connection(client, server, self._forget)
            with self._lock:
                self._connections.add(connection)
            connection.start()

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _close(self) -> None:
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._accepting.join()
        self._listener.close()
        self.cut()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.join()


@contextmanager
def tcp_link(target: tuple[str, int], listen: str = "127.0.0.1") -> Iterator[TcpLink]:
    """A running link to `target`, closed with all its connections afterwards."""
    link = TcpLink(target, listen)
    link._start()
    try:
        yield link
    finally:
        link._close()


class _Connection:
    """One client connection and its server side, pumped by two threads."""

    def __init__(
        self,
        client: socket.socket,
        server: socket.socket,
        forget: Callable[[_Connection], None],
    ) -> None:
        self._sockets = (client, server)
        self._forget = forget
        self._pumps = [
            threading.Thread(target=self._pump, args=(client, server), daemon=True),
            threading.Thread(target=self._pump, args=(server, client), daemon=True),
        ]
        self._lock = threading.Lock()
        self._running = 2

    def start(self) -> None:
        for pump in self._pumps:
            pump.start()

    def join(self) -> None:
        for pump in self._pumps:
            pump.join()

    def break_off(self) -> None:
        """Reset both sides: the pumps see an error or end of stream and stop."""
        for sock in self._sockets:
            _linger_zero(sock)
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(256 * 1024):
                sink.sendall(data)
        except OSError:
            pass
        # Either side ending ends the connection (HTTP clients do not half-close).
        self.break_off()
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            for sock in self._sockets:
                sock.close()
            self._forget(self)


def _connect(target: tuple[str, int]) -> socket.socket | None:
    try:
        sock = socket.create_connection(target, timeout=5)
    except OSError:
        return None
    sock.settimeout(None)  # idle keep-alive connections stay open, as without the link
    return sock


def _linger_zero(sock: socket.socket) -> None:
    """Make close() send a reset instead of a graceful end, as a dying peer does."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _reset(sock: socket.socket) -> None:
    _linger_zero(sock)
    sock.close()
