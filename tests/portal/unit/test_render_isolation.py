"""The PDF renderer's child process: no network, and held to its resource limits."""

from __future__ import annotations

import socket
import subprocess
import sys

from dokportal.files import safe_copies
from tests.support.services import unavailable

CONNECT = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
except OSError:
    sys.exit(3)
"""


def test_the_child_cannot_reach_even_the_loopback() -> None:
    prefix = safe_copies.network_isolation()
    if not prefix:
        unavailable("network namespaces (unshare)", "the kernel or runtime refuses them")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = str(server.getsockname()[1])
        # Outside the namespace the same connection works: the test can fail.
        outside = subprocess.run([sys.executable, "-c", CONNECT, port], check=False)
        inside = subprocess.run([*prefix, sys.executable, "-c", CONNECT, port], check=False)
    assert outside.returncode == 0
    assert inside.returncode == 3


def test_the_child_limits_itself_before_reading_the_pdf() -> None:
    # Run the limits as the child does, then try what they forbid.
    probe = """
import resource, sys
from dokportal.files import render_child
render_child._limit()
soft, _ = resource.getrlimit(resource.RLIMIT_AS)
assert soft == render_child.MEMORY_BYTES, soft
assert resource.getrlimit(resource.RLIMIT_CPU)[0] == render_child.CPU_SECONDS
try:
    bytearray(2 * render_child.MEMORY_BYTES)
except MemoryError:
    sys.exit(4)
"""
    done = subprocess.run([sys.executable, "-c", probe], check=False)
    assert done.returncode == 4
