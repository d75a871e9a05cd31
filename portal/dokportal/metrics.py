"""Prometheus metrics of one portal process, served on their own port.

``/metrics`` is never part of the portal's routes: a separate listener
(``DOKPORTAL_METRICS__PORT``, off when 0) that the chart exposes on its own container and
Service port, never through the Ingress. One process per pod, so the default registry of
``prometheus_client`` is enough (no multiprocess mode).

Labels hold only bounded, code-defined values: route templates (``/documents/{reference}``,
never the raw path with its ids), status codes, reasons, audit action names, key ids. Never
a name, an address, a file name or anything a person typed.

Per-request cost is one ``perf_counter`` pair, one counter and one histogram update (the
upload path is benchmarked, see bench/).
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from threading import Thread
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from litestar.enums import ScopeType
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from dokportal import logs

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from dokportal.crypto.keyring import Keyring

REQUESTS = Counter(
    "dokportal_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "dokportal_http_request_duration_seconds",
    "Time from request start to the end of the response, by route template.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
UPLOADS = Counter("dokportal_uploads", "Uploads (submissions) accepted and stored.")
UPLOAD_FILES = Counter("dokportal_upload_files", "Files in accepted uploads.")
UPLOAD_BYTES = Counter("dokportal_upload_bytes", "Bytes of the files in accepted uploads.")
UPLOAD_SECONDS = Histogram(
    "dokportal_upload_duration_seconds",
    "Time to receive, check, encrypt and store one accepted upload.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
UPLOAD_REJECTIONS = Counter(
    "dokportal_upload_rejections",
    "Uploads refused before anything was stored, by reason.",
    ["reason"],
)
NOTICES = Counter(
    "dokportal_notice_events",
    "Notice life cycle: sent (by staff), notified (mail out, deemed-received date set), "
    "opened, downloaded, reminder_queued.",
    ["event"],
)
MAIL = Counter(
    "dokportal_mail",
    "Mail delivery attempts by kind and result: sent, retrying (failed, tried again later), "
    "failed (given up after the last attempt).",
    ["kind", "result"],
)
MAIL_OUTBOX = Gauge(
    "dokportal_mail_outbox",
    "Mails in the outbox by status (pending: waiting to be sent; failed: given up), "
    "as the worker last counted them.",
    ["status"],
)
WORKER_RUNS = Counter(
    "dokportal_worker_runs", "Rounds of the periodic worker, by result.", ["result"]
)
WORKER_SECONDS = Histogram(
    "dokportal_worker_run_duration_seconds",
    "Duration of one round of the periodic worker.",
    buckets=(0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
WORKER_LAST_SUCCESS = Gauge(
    "dokportal_worker_last_success_timestamp_seconds",
    "Unix time the periodic worker last finished a round without an error.",
)
DEPENDENCY_ERRORS = Counter(
    "dokportal_dependency_errors",
    "Requests answered 503 because the database or the blob store was unreachable.",
    ["dependency"],
)
DEPENDENCY_UP = Gauge(
    "dokportal_dependency_up",
    "1 if the last readiness check reached the dependency (database, storage, keys), else 0.",
    ["dependency"],
)
SIGNIN_FAILURES = Counter(
    "dokportal_signin_failures",
    "Failed guesses (password, code, token) by guarded scope.",
    ["scope"],
)
THROTTLED = Counter(
    "dokportal_throttled",
    "Attempts refused by a guessing limit (429), by counter scope.",
    ["scope"],
)
AUDIT_EVENTS = Counter("dokportal_audit_events", "Audit events appended, by action.", ["action"])
KEYRING_KEYS = Gauge(
    "dokportal_keyring_key_info",
    "Keys in the loaded keyring (1 each); primary=true marks the one new data is wrapped with.",
    ["key_id", "primary"],
)
KEYRING_PRIMARY_CREATED = Gauge(
    "dokportal_keyring_primary_created_timestamp_seconds",
    "Unix time of the day the primary key was made (from its k-YYYYMMDD-… id); "
    "the rotation-overdue alert compares it with now.",
)

UNMATCHED = "unmatched"
_KEY_DATE = re.compile(r"k-(\d{8})-")


def route_of(scope: Scope) -> str:
    """The route template Litestar matched (``/notices/{notice_id}``), never the raw path."""
    template = scope.get("path_template")
    return template if isinstance(template, str) else UNMATCHED


def http_metrics(app: ASGIApp) -> ASGIApp:
    """Outermost ASGI wrapper: count and time every HTTP request by route template, and
    write its one access line (``dokportal.access``) under a request id."""

    async def measured(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        token = logs.REQUEST_ID.set(logs.new_request_id(scope["headers"]))

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_seen)
        finally:
            route = route_of(scope)
            method = scope.get("method", "")
            seconds = time.perf_counter() - started
            REQUESTS.labels(route, method, str(status)).inc()
            REQUEST_SECONDS.labels(route, method).observe(seconds)
            if logs.ACCESS.isEnabledFor(logging.INFO):
                logs.ACCESS.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "route": route,
                        "method": method,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 1),
                    },
                )
            # Keep-alive requests share a task: the next one must not inherit this id.
            logs.REQUEST_ID.reset(token)

    return measured


def observe_keyring(keyring: Keyring) -> None:
    """Which key ids this process holds; a rotation shows as a new primary id."""
    KEYRING_KEYS.clear()
    for key_id in keyring.ids:
        KEYRING_KEYS.labels(key_id, str(key_id == keyring.primary_id).lower()).set(1)
    made = _KEY_DATE.match(keyring.primary_id)
    if made is not None:
        day = datetime.strptime(made.group(1), "%Y%m%d").replace(tzinfo=UTC)
        KEYRING_PRIMARY_CREATED.set(day.timestamp())


_NOTICE_ACTIONS = {
    "notice.sent": "sent",
    "notice.opened": "opened",
    "notice.downloaded": "downloaded",
    "notice.reminder_queued": "reminder_queued",
    "mail.sent.notice": "notified",
}


def observe_audit(action: str) -> None:
    """Every audit event counts; some also feed the notice counter."""
    AUDIT_EVENTS.labels(action).inc()
    event = _NOTICE_ACTIONS.get(action)
    if event is not None:
        NOTICES.labels(event).inc()


def rejection_reason(error: BaseException) -> str:
    """A bounded reason label from the error's class: ``too_large``, ``unsupported_type``…"""
    name = type(error).__name__
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name).lstrip("_")


def guard_scope(key: str) -> str:
    """``signin-pair:<hash>`` → ``signin``: the kind of guess, never what was typed."""
    scope = key.split(":", 1)[0]
    for suffix in ("-pair", "-client", "-account"):
        scope = scope.removesuffix(suffix)
    return scope


class MetricsServer:
    """The separate listener for ``/metrics`` (a daemon thread of prometheus_client)."""

    def __init__(self, server: WSGIServer, thread: Thread) -> None:
        self.server = server
        self.thread = thread

    @classmethod
    def start(cls, host: str, port: int) -> MetricsServer:
        server, thread = start_http_server(port, addr=host)
        return cls(server, thread)

    @property
    def port(self) -> int:
        address: Any = self.server.server_address
        return int(address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
