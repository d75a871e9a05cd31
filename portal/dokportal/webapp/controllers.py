"""Manifest and service worker, so the portal can be added to a phone's home screen."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Response

from dokportal.i18n.negotiation import direction
from dokportal.lib.runtime import runtime_of
from dokportal.lib.web import page_state, translate

AnyRequest = Request[Any, Any, Any]
PACKAGE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE_DIR / "static"
WORKER_SOURCE = Path(__file__).resolve().parent / "sw.js"
THEME = "#0b5394"
ICONS = [
    {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
    {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
    {
        "src": "/static/icons/icon-maskable-512.png",
        "sizes": "512x512",
        "type": "image/png",
        "purpose": "maskable",
    },
]


@functools.cache
def worker_script() -> str:
    """sw.js with the static files to cache and a version that changes with any of them."""
    files = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    urls = []
    for path in files:
        relative = path.relative_to(STATIC_DIR).as_posix()
        digest.update(relative.encode() + b"\0" + path.read_bytes())
        urls.append(f"/static/{relative}")
    source = WORKER_SOURCE.read_text(encoding="utf-8")
    return source.replace("__VERSION__", digest.hexdigest()[:16]).replace(
        "__ASSETS__", json.dumps(urls)
    )


class WebAppController(Controller):
    """Public: neither response depends on who is signed in."""

    @get("/manifest.webmanifest", name="manifest")
    async def manifest(self, request: AnyRequest) -> Response[bytes]:
        settings = runtime_of(request).settings
        lang = page_state(request).lang
        product = translate(lang, "Document portal")
        body = {
            "name": f"{settings.tenant.name} \N{EN DASH} {product}",
            "short_name": product,
            "lang": lang,
            "dir": direction(lang),
            "start_url": "/",
            "scope": "/",
            "display": "standalone",
            "background_color": "#ffffff",
            "theme_color": THEME,
            "icons": ICONS,
        }
        return Response(
            content=json.dumps(body, ensure_ascii=False).encode(),
            media_type="application/manifest+json",
        )

    @get("/sw.js", name="service_worker")
    async def service_worker(self) -> Response[str]:
        # Browsers check for a new worker on navigation; "no-cache" makes them ask us.
        return Response(
            content=worker_script(),
            media_type="text/javascript",
            headers={"cache-control": "no-cache"},
        )
