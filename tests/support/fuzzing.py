"""Budgets and case counts for the property-based and fuzz tests.

``make test`` runs the ``ci`` profile: a fixed, derandomised budget, so a run is repeatable
and its cost known. ``make fuzz`` selects ``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``): many more,
random examples. Every fuzz test counts what it ran in :data:`CASES`; the terminal summary
(``tests/conftest.py``) prints the counts, so a budget that silently shrank shows.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

CASES: Counter[str] = Counter()

_COMMON = {
    # One app and one signed-in world serve all examples of a test; that is deliberate.
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "deadline": None,
    "print_blob": True,
}
settings.register_profile("ci", max_examples=25, derandomize=True, database=None, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("fuzz", max_examples=1000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def scaled(examples: int) -> int:
    """A per-test budget in ``ci``, multiplied in the ``fuzz`` profile."""
    if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz":
        return examples * int(os.environ.get("FUZZ_FACTOR", "40"))
    return examples


def count(name: str) -> None:
    CASES[name] += 1


def summary() -> list[str]:
    if not CASES:
        return []
    total = sum(CASES.values())
    lines = [f"fuzz and property cases: {total} in {len(CASES)} targets"]
    lines += [f"  {name}: {n}" for name, n in sorted(CASES.items())]
    return lines
