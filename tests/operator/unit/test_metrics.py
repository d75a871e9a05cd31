"""The operator's metrics move: passes and their failures, writes, each Portal's conditions,
time to Ready, and a deleted Portal's series go away."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from dokportal_operator import metrics
from dokportal_operator.context import Context
from dokportal_operator.handlers import keep
from dokportal_operator.kube import Kube
from dokportal_operator.reconcile import Outcome, write_status
from dokportal_operator.settings import OperatorSettings
from tests.operator.unit.test_failure_report import StatusKube


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class _Client:
    async def patch(self, resource: Any, name: str, obj: Any, **_: Any) -> dict[str, Any]:
        return dict(obj)


def test_writes_are_counted() -> None:
    kube = Kube(_Client())  # type: ignore[arg-type]
    before = sample("dokportal_operator_writes_total")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}}
    asyncio.run(kube.apply(secret))
    asyncio.run(kube.apply(secret))
    assert sample("dokportal_operator_writes_total") - before == 2


def test_conditions_and_time_to_ready() -> None:
    kube = StatusKube()
    ctx = Context(kube=kube, settings=OperatorSettings())  # type: ignore[arg-type]
    went_down = (datetime.now(UTC) - timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "metadata": {"name": "lampertheim", "generation": 2},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "lastTransitionTime": went_down},
                {"type": "Stalled", "status": "True"},
            ]
        },
    }
    count = sample("dokportal_operator_time_to_ready_seconds_count")
    total = sample("dokportal_operator_time_to_ready_seconds_sum")
    ready = [
        {"type": "Ready", "status": "True", "reason": "Available"},
        {"type": "Stalled", "status": "False", "reason": "Fine"},
    ]
    asyncio.run(write_status(ctx, body, {"conditions": ready}, logging.getLogger("test")))
    labels = {"portal": "lampertheim", "condition": "Ready"}
    assert sample("dokportal_operator_portal_condition", **labels, status="True") == 1
    assert sample("dokportal_operator_portal_condition", **labels, status="False") == 0
    stalled = {"portal": "lampertheim", "condition": "Stalled"}
    assert sample("dokportal_operator_portal_condition", **stalled, status="False") == 1
    assert sample("dokportal_operator_time_to_ready_seconds_count") - count == 1
    assert 119 <= sample("dokportal_operator_time_to_ready_seconds_sum") - total < 180
    # Ready again while already Ready: no second observation.
    again = {**body, "status": {"conditions": ready}}
    changed = [{**ready[0], "reason": "StillAvailable"}, ready[1]]
    asyncio.run(write_status(ctx, again, {"conditions": changed}, logging.getLogger("test")))
    assert sample("dokportal_operator_time_to_ready_seconds_count") - count == 1
    metrics.forget("lampertheim")
    assert (
        REGISTRY.get_sample_value(
            "dokportal_operator_portal_condition", {**labels, "status": "True"}
        )
        is None
    )


class _Stopped:
    def __init__(self) -> None:
        self.flag = False

    def __bool__(self) -> bool:
        return self.flag

    async def wait(self, delay: float | None = None) -> bool:
        return self.flag


class _GetKube:
    async def get(self, ref: Any) -> dict[str, Any]:
        return {"metadata": {"name": "bensheim"}}


async def test_passes_and_failures_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = _Stopped()
    results: list[BaseException | None] = [None, RuntimeError("boom"), None]

    async def fake_reconcile(*_: Any) -> Outcome:
        outcome = results.pop(0)
        if not results:
            stopped.flag = True
        if outcome is not None:
            raise outcome
        return Outcome(delay=0.0, settled=True)

    async def no_report(*_: Any) -> None:
        return None

    monkeypatch.setattr(keep, "reconcile", fake_reconcile)
    monkeypatch.setattr(keep, "report_failure", no_report)
    ctx = Context(kube=_GetKube(), settings=OperatorSettings(retry_seconds=0.1))  # type: ignore[arg-type]
    ok = sample("dokportal_operator_passes_total", result="ok")
    failed = sample("dokportal_operator_passes_total", result="failed")
    errors = sample("dokportal_operator_errors_total", error="RuntimeError")
    memo: Any = {"ctx": ctx}
    waiter: Any = stopped
    log = logging.getLogger("test")
    await keep.keep_portal(name="bensheim", stopped=waiter, memo=memo, logger=log)
    assert sample("dokportal_operator_passes_total", result="ok") - ok == 2
    assert sample("dokportal_operator_passes_total", result="failed") - failed == 1
    assert sample("dokportal_operator_errors_total", error="RuntimeError") - errors == 1
