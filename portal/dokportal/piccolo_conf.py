"""Piccolo's configuration module (``PICCOLO_CONF=dokportal.piccolo_conf``).

``DB`` is resolved lazily from :mod:`dokportal.db`, so the engine follows the settings the
process was started with rather than whatever was in the environment at import time.
"""

from __future__ import annotations

from piccolo.conf.apps import AppRegistry

APP_REGISTRY = AppRegistry(
    apps=[
        "dokportal.sessions.piccolo_app",
        "dokportal.staff.piccolo_app",
        "dokportal.accounts.piccolo_app",
        "dokportal.files.piccolo_app",
        "dokportal.documents.piccolo_app",
        "dokportal.notices.piccolo_app",
        "dokportal.workspace.piccolo_app",
        "dokportal.mail.piccolo_app",
        "dokportal.api.piccolo_app",
        "dokportal.audit.piccolo_app",
    ]
)


def __getattr__(name: str) -> object:
    if name == "DB":
        from dokportal.db import current_engine

        return current_engine()
    raise AttributeError(name)
