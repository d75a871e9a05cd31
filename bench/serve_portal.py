"""The portal as `make run` serves it, plus two benchmark-only routes on the same server:

- ``POST /bench/discard`` reads the request body and throws it away: the ceiling of this
  stack (uvicorn + Litestar + our request hooks) without parsing, hashing or encryption;
- ``/bench/static/…`` serves plain files from ``$BENCH_STATIC``: the download baseline.

Configuration comes from DOKPORTAL_* like the real thing. Usage: serve_portal.py PORT
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Request, post
from litestar.static_files import create_static_files_router

from dokportal import db
from dokportal.app import create_app
from dokportal.cli import ensure_keyring, load_settings
from dokportal.lib.http_protocol import guarded_protocol
from dokportal.lib.web import STREAM_CSRF


@post("/bench/discard", opt={STREAM_CSRF: True}, request_max_body_size=None, status_code=204)
async def discard(request: Request[Any, Any, Any]) -> None:
    while True:
        message = await request.receive()
        if not message.get("more_body", False):
            return


def main(port: int) -> None:
    settings = load_settings()
    ensure_keyring(settings)
    if settings.storage.kind == "folder":
        settings.storage.folder.mkdir(parents=True, exist_ok=True)
    db.configure(settings)
    asyncio.run(db.migrate())
    app = create_app(settings)
    app.register(discard)
    static = Path(os.environ.get("BENCH_STATIC", "var/bench-static"))
    static.mkdir(parents=True, exist_ok=True)
    app.register(create_static_files_router(path="/bench/static", directories=[static]))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_keep_alive=5,
        http=guarded_protocol(settings.server),  # as `dokportal serve` runs it
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
