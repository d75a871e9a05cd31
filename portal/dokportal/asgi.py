"""ASGI entry point for production servers: ``uvicorn dokportal.asgi:app``.

All configuration comes from the environment (and the mounted keyring file).
"""

from __future__ import annotations

import os

from dokportal import logs
from dokportal.app import create_app
from dokportal.settings import get_settings

# Whatever this process creates (a SQLite database, blobs in a folder) is for its user only.
os.umask(0o077)
_settings = get_settings()
logs.configure(_settings.log_level, _settings.log.format, _settings.tenant.slug)
app = create_app(_settings)
