"""ASGI entry point for production servers: ``uvicorn dokportal.asgi:app``.

All configuration comes from the environment (and the mounted keyring file).
"""

from __future__ import annotations

from dokportal.app import create_app
from dokportal.settings import get_settings

app = create_app(get_settings())
