"""Prometheus metrics of the operator, on their own port (``DOKPORTAL_OPERATOR_METRICS_PORT``,
0: off): passes and their results, writes to the API, failures by error type, each Portal's
conditions, and how long a Portal takes to become Ready.

Labels: Portal names (cluster-scoped objects an administrator named), condition types and
statuses, exception class names. Nothing from a Secret.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from dokportal_operator import constants as c

PASSES = Counter(
    "dokportal_operator_passes", "Reconcile passes over Portals, by result.", ["result"]
)
PASS_SECONDS = Histogram(
    "dokportal_operator_pass_duration_seconds",
    "Duration of one reconcile pass.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
WRITES = Counter("dokportal_operator_writes", "Writes (apply, create, patch, delete) to the API.")
ERRORS = Counter("dokportal_operator_errors", "Failed reconcile passes, by error type.", ["error"])
CONDITIONS = Gauge(
    "dokportal_operator_portal_condition",
    "1 for each Portal's current status of each condition type (Ready, Stalled, ...).",
    ["portal", "condition", "status"],
)
TIME_TO_READY = Histogram(
    "dokportal_operator_time_to_ready_seconds",
    "From a Portal's creation, or from when it stopped being Ready, until Ready=True.",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)

_STATUSES = ("True", "False", "Unknown")


def observe_conditions(portal: str, merged: list[dict[str, Any]]) -> None:
    """One-hot per condition type: exactly one of True/False/Unknown is 1."""
    for cond in merged:
        kind = str(cond.get("type") or "")
        if not kind:
            continue
        current = str(cond.get("status") or "Unknown")
        for status in _STATUSES:
            CONDITIONS.labels(portal, kind, status).set(1 if status == current else 0)


def observe_ready(
    body: dict[str, Any], old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> None:
    """A Portal that just became Ready: the time since it was created, or since its old
    Ready condition last changed (it stopped being ready then)."""
    before = next((cond for cond in old if cond.get("type") == c.READY), {})
    after = next((cond for cond in new if cond.get("type") == c.READY), {})
    if after.get("status") != "True" or before.get("status") == "True":
        return
    since = before.get("lastTransitionTime") or (body.get("metadata") or {}).get(
        "creationTimestamp"
    )
    if not since:
        return
    start = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
    TIME_TO_READY.observe(max(0.0, (datetime.now(UTC) - start).total_seconds()))


def forget(portal: str) -> None:
    """A deleted Portal leaves no condition series behind."""
    for labels in list(CONDITIONS._metrics):
        if labels[0] == portal:
            CONDITIONS.remove(*labels)


def serve(port: int, addr: str) -> None:
    start_http_server(port, addr=addr)
