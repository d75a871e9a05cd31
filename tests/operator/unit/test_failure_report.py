"""A pass that fails for a reason nobody foresaw still tells the truth: Ready False for the
current generation, the old part conditions untouched, an Event once per phase change."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dokportal_operator.context import Context
from dokportal_operator.reconcile import report_failure
from dokportal_operator.settings import OperatorSettings


class StatusKube:
    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.events: list[tuple[str, str]] = []

    async def patch_portal_status(self, name: str, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    async def post_event(self, portal: Any, kind: str, reason: str, message: str) -> None:
        self.events.append((kind, reason))


READY_BEFORE = {
    "metadata": {"name": "viernheim", "generation": 4},
    "status": {
        "observedGeneration": 3,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Available", "observedGeneration": 3},
            {
                "type": "KeysReady",
                "status": "True",
                "reason": "KeyringReady",
                "observedGeneration": 3,
            },
        ],
    },
}


def test_an_unforeseen_failure_is_reported_for_the_current_generation() -> None:
    kube = StatusKube()
    ctx = Context(kube=kube, settings=OperatorSettings())  # type: ignore[arg-type]
    error = RuntimeError("the API server said 500")
    asyncio.run(report_failure(ctx, READY_BEFORE, error, logging.getLogger("test")))
    (status,) = kube.statuses
    by_type = {cond["type"]: cond for cond in status["conditions"]}
    assert status["observedGeneration"] == 4
    assert by_type["Ready"]["status"] == "False"
    assert by_type["Ready"]["reason"] == "ReconcileFailed"
    assert by_type["Ready"]["observedGeneration"] == 4
    assert "RuntimeError: the API server said 500" in by_type["Ready"]["message"]
    assert by_type["Reconciling"]["status"] == "True"
    # What this pass did not look at keeps the generation it was observed at.
    assert by_type["KeysReady"]["observedGeneration"] == 3
    assert kube.events == [("Warning", "ReconcileFailed")]
    # The same failure again: nothing new to write.
    again = {**READY_BEFORE, "status": status}
    asyncio.run(report_failure(ctx, again, error, logging.getLogger("test")))
    assert len(kube.statuses) == 1 and len(kube.events) == 1
