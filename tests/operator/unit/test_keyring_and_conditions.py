"""The operator's keyring format (the portal's) and status conditions."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

import pytest

from dokportal_operator import conditions, keyring
from dokportal_operator.conditions import Condition


def test_generated_keyring_matches_the_portal_format() -> None:
    ring = keyring.generate(date(2026, 11, 25))
    document = json.loads(ring.to_json())
    assert set(document) == {"primary", "keys"}
    assert document["primary"].startswith("k-20261125-")
    assert len(base64.b64decode(document["keys"][document["primary"]])) == 32
    assert keyring.parse(ring.to_json()) == ring


def test_rotation_adds_a_primary_and_retiring_keeps_it() -> None:
    ring = keyring.generate()
    rotated = ring.rotated()
    assert rotated.primary != ring.primary and set(rotated.ids) == {ring.primary, rotated.primary}
    assert rotated.keys[ring.primary] == ring.keys[ring.primary]
    assert rotated.without({ring.primary, rotated.primary}).ids == (rotated.primary,)


def test_material_never_shows_in_repr_or_errors() -> None:
    ring = keyring.generate()
    material = base64.b64encode(ring.keys[ring.primary]).decode()
    assert material not in repr(ring)
    broken = ring.to_json().replace('"primary"', '"primari"')
    with pytest.raises(keyring.KeyringInvalid) as error:
        keyring.parse(broken)
    assert material not in str(error.value)
    with pytest.raises(keyring.KeyringInvalid, match="not 32 bytes"):
        keyring.parse(json.dumps({"primary": "k", "keys": {"k": base64.b64encode(b"x").decode()}}))


def test_ready_needs_every_part_and_reports_the_first_problem() -> None:
    parts = {
        "KeysReady": Condition("KeysReady", True, "KeyringReady", "ok"),
        "StorageReady": Condition("StorageReady", False, "InvalidSecretKey", "rejected"),
    }
    problem = parts["StorageReady"]
    summary = {cond.type: cond for cond in conditions.summarise(parts, [], [problem])}
    assert summary["Ready"].status == "False" and summary["Ready"].reason == "InvalidSecretKey"
    assert summary["Stalled"].status == "True"
    assert summary["Reconciling"].status == "False"
    assert summary["DatabaseReady"].status == "Unknown"


def test_merge_keeps_transition_time_when_status_stays() -> None:
    first = conditions.merge(
        [], [Condition("Ready", True, "Available", "x")], 1, datetime(2026, 1, 1, tzinfo=UTC)
    )
    later = conditions.merge(
        first, [Condition("Ready", True, "Available", "x")], 2, datetime(2026, 2, 1, tzinfo=UTC)
    )
    assert later[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert later[0]["observedGeneration"] == 2
    flipped = conditions.merge(
        later, [Condition("Ready", False, "Down", "y")], 2, datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert flipped[0]["lastTransitionTime"] == "2026-03-01T00:00:00Z"
