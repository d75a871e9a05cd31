"""Status conditions (reason, message, observedGeneration), merged so that a condition that
did not change keeps its lastTransitionTime: a resync that changes nothing writes nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dokportal_operator import constants as c

# The order they appear in the status (and in `kubectl describe`).
ORDER = (
    c.READY,
    c.RECONCILING,
    c.STALLED,
    c.KEYS_READY,
    c.STORAGE_READY,
    c.DATABASE_READY,
    c.WORKLOAD_AVAILABLE,
)
PARTS = (c.KEYS_READY, c.STORAGE_READY, c.DATABASE_READY, c.WORKLOAD_AVAILABLE)


@dataclass(frozen=True)
class Condition:
    type: str
    ok: bool | None  # None: Unknown
    reason: str
    message: str

    @property
    def status(self) -> str:
        return "Unknown" if self.ok is None else str(self.ok)


def unknown(kind: str, message: str = "not checked yet") -> Condition:
    return Condition(kind, None, "NotChecked", message)


def summarise(
    parts: Mapping[str, Condition],
    waiting: Sequence[Condition],
    stalled: Sequence[Condition],
    *,
    paused: bool = False,
) -> list[Condition]:
    """Add Ready, Reconciling and Stalled to the per-part conditions. `paused`: the spec asks
    for no pods (replicas 0) — not Ready, but nothing is wrong either."""
    result = [parts.get(kind, unknown(kind)) for kind in PARTS]
    not_ready = [cond for cond in result if cond.ok is not True]
    if stalled:
        ready = Condition(c.READY, False, stalled[0].reason, stalled[0].message)
    elif paused and all(cond.ok for cond in result if cond.type != c.WORKLOAD_AVAILABLE):
        ready = Condition(
            c.READY, False, "Paused", "spec.app.replicas is 0: no pods run, nobody is served"
        )
    elif not_ready:
        ready = Condition(c.READY, False, not_ready[0].reason, not_ready[0].message)
    else:
        ready = Condition(c.READY, True, "Available", "the portal is serving")
    if waiting:
        reconciling = Condition(c.RECONCILING, True, waiting[0].reason, waiting[0].message)
    else:
        reconciling = Condition(c.RECONCILING, False, "Settled", "nothing to do")
    if stalled:
        stalled_cond = Condition(c.STALLED, True, stalled[0].reason, stalled[0].message)
    else:
        stalled_cond = Condition(c.STALLED, False, "NoProblems", "nothing needs a person")
    return [ready, reconciling, stalled_cond, *result]


def merge(
    previous: Iterable[Mapping[str, Any]],
    current: Iterable[Condition],
    generation: int,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The status.conditions list: a transition time only moves when the status moves."""
    old = {item.get("type"): item for item in previous}
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    merged = []
    for cond in sorted(current, key=lambda item: ORDER.index(item.type)):
        before = old.get(cond.type)
        if before is not None and before.get("status") == cond.status:
            transition = before.get("lastTransitionTime", stamp)
        else:
            transition = stamp
        merged.append(
            {
                "type": cond.type,
                "status": cond.status,
                "reason": cond.reason,
                "message": cond.message[:1000],
                "observedGeneration": generation,
                "lastTransitionTime": transition,
            }
        )
    return merged


def phase(conditions: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """(phase, reason) of a status' conditions: Stalled, Ready, Paused or Reconciling — what
    an Event reports when it changes."""
    by_type = {item.get("type"): item for item in conditions}
    stalled = by_type.get(c.STALLED) or {}
    ready = by_type.get(c.READY) or {}
    if stalled.get("status") == "True":
        return "Stalled", str(stalled.get("reason") or "")
    if ready.get("status") == "True":
        return "Ready", ""
    if ready.get("reason") == "Paused":
        return "Paused", ""
    if ready.get("reason") == "ReconcileFailed":
        return "Failing", "ReconcileFailed"
    if not ready:
        return "", ""
    return "Reconciling", ""
