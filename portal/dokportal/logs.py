"""Log set-up: one JSON object per line (``DOKPORTAL_LOG__FORMAT=json``) or plain text.

Every record carries the tenant, and inside a request its request id; the one access line
per request (logger ``dokportal.access``, written by :func:`dokportal.metrics.http_metrics`)
adds the route *template*, method, status and duration. Raw paths and query strings are
never logged by us (they can hold customer numbers or search terms), and uvicorn's own access
log is off for the same reason. What a person typed or sent — documents, file names,
messages, passwords, codes, tokens — is never passed to a logger;
tests/portal/integration/test_log_privacy.py checks that over a whole journey.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

REQUEST_ID: ContextVar[str] = ContextVar("dokportal_request_id", default="")
ACCESS = logging.getLogger("dokportal.access")

# Fields an access line adds through ``extra=``; the JSON formatter copies exactly these.
ACCESS_FIELDS = ("route", "method", "status", "duration_ms")
_HANDLER_NAME = "dokportal"


def new_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The proxy's ``X-Request-ID`` when it is a plain token (so lines can be joined with the
    ingress controller's), else a fresh random one."""
    for name, value in headers:
        if name == b"x-request-id":
            if 8 <= len(value) <= 64 and value.replace(b"-", b"").isalnum():
                return value.decode("ascii")
            break
    return secrets.token_hex(8)


class _Context(logging.Filter):
    """Adds tenant and request id to every record, whichever logger wrote it."""

    def __init__(self, tenant: str) -> None:
        super().__init__()
        self.tenant = tenant

    def filter(self, record: logging.LogRecord) -> bool:
        record.tenant = self.tenant
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a log collector (Loki, Elasticsearch, journald)."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "tenant": getattr(record, "tenant", ""),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            event["request_id"] = request_id
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                event[field] = getattr(record, field)
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


def configure(level: str, fmt: str, tenant: str, stream: IO[str] | None = None) -> None:
    """Replace the root logger's handlers with ours (idempotent; uvicorn's loggers propagate
    to it when uvicorn runs with ``log_config=None``)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_Context(tenant))
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's access lines carry the raw path and query: ours carry the route template.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx (OIDC, outgoing calls) logs every URL at INFO; URLs can carry codes and ids.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
