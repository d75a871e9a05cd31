"""The baseline for a first look at upload speed: an ASGI app that copies the request body
to a file and fsyncs it, served by the same uvicorn as the portal. No parsing, no hashing,
no encryption — the floor the portal's upload route is compared with.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import uvicorn

TARGET = Path(os.environ.get("COPY_TARGET", "/tmp/dokportal-plain-copy.bin"))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    with TARGET.open("wb") as handle:
        while True:
            message = await receive()
            handle.write(message.get("body", b""))
            if not message.get("more_body"):
                break
        handle.flush()
        os.fsync(handle.fileno())
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
