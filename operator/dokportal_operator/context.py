"""What every reconcile step shares: the API, the settings and a little memory.

The memory is only an optimisation (skip an apply whose result is already live, skip a bucket
check that just passed); after a restart it is empty and everything is simply checked again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dokportal_operator import helm, render
from dokportal_operator.kube import Kube, Obj, Ref
from dokportal_operator.settings import OperatorSettings

# What kopf hands to handlers as `logger`.
Logger = logging.Logger | logging.LoggerAdapter[Any]


def live_version(live: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
    """What changes when someone edits what we set: the generation (spec) — or, for kinds
    without one, everything but metadata and status — plus the values of our labels and
    annotations. Status updates and labels others add (a Deployment's revision, a quota's
    usage) do not count, so they cause no re-apply."""
    meta = live.get("metadata") or {}
    wanted = desired.get("metadata") or {}
    ours = [
        {key: (meta.get(field) or {}).get(key) for key in wanted.get(field) or {}}
        for field in ("labels", "annotations")
    ]
    generation = meta.get("generation")
    if generation is None:
        body = {key: value for key, value in live.items() if key not in {"metadata", "status"}}
        summary = json.dumps([body, ours], sort_keys=True)
        return f"body:{hashlib.sha256(summary.encode()).hexdigest()}"
    summary = json.dumps(ours, sort_keys=True)
    return f"gen:{generation}:{hashlib.sha256(summary.encode()).hexdigest()[:16]}"


@dataclass
class Context:
    kube: Kube
    settings: OperatorSettings
    applied: dict[tuple[str, Ref], tuple[str, str]] = field(default_factory=dict)
    # Per Portal: (digest of what was checked, when, the bucket's marker id).
    storage_checked: dict[str, tuple[str, float, str]] = field(default_factory=dict)
    rendered: dict[str, tuple[str, list[Obj]]] = field(default_factory=dict)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    # Per Portal: what of it (besides status) the last event showed; see keep.wake_on_change.
    portal_triggers: dict[str, str] = field(default_factory=dict)
    # Per child: what of it a pass acts on, as its last event showed; see drift.wake_owner.
    children_seen: dict[Ref, str] = field(default_factory=dict)
    # Per Portal uid: (copied Secret name → digest of what was copied), for the pod template.
    copied: dict[str, dict[str, str]] = field(default_factory=dict)
    # Secret (namespace, name) → the Portals that read it: a change wakes them at once.
    readers: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # Per Portal uid: the foreign Roles/RoleBindings last reported (see resources.rights).
    rights_seen: dict[str, str] = field(default_factory=dict)

    def wakeup(self, portal: str) -> asyncio.Event:
        return self.wakeups.setdefault(portal, asyncio.Event())

    def wake(self, portal: str | None) -> None:
        if portal and portal in self.wakeups:
            self.wakeups[portal].set()

    def forget(self, uid: str) -> None:
        for key in [key for key in self.applied if key[0] == uid]:
            del self.applied[key]
        self.storage_checked.pop(uid, None)
        self.storage_checked.pop(f"{uid}/identity", None)
        self.rendered.pop(uid, None)
        self.copied.pop(uid, None)

    async def ensure(self, owner_uid: str, obj: Obj, live: Obj | bool | None = True) -> Obj:
        """Server-side apply `obj` unless exactly this was applied and nobody touched it since.

        `live`: the current object if the caller already has it (None: it does not exist);
        True: look it up here.
        """
        ref = Ref.of(obj)
        current = await self.kube.get(ref) if live is True else live
        fingerprint = render.fingerprint(obj)
        key = (owner_uid, ref)
        if isinstance(current, dict) and self.applied.get(key) == (
            fingerprint,
            live_version(current, obj),
        ):
            return current
        result = await self.kube.apply(obj)
        self.applied[key] = (fingerprint, live_version(result, obj))
        return result

    def credentials_checksum(self, owner_uid: str) -> str:
        copied = self.copied.get(owner_uid) or {}
        if not copied:
            return ""
        return hashlib.sha256(json.dumps(copied, sort_keys=True).encode()).hexdigest()[:16]

    async def render_chart(self, owner_uid: str, namespace: str, values: Obj) -> list[Obj]:
        """charts/portal for these values; `helm template` runs only when the values or the
        chart changed since this Portal's last render (it costs ~0.1 s of CPU per run, and
        a Portal's passes mostly render the same thing again). Callers must not change the
        objects: they are kept for the next pass."""
        settings = self.settings
        key = hashlib.sha256(
            json.dumps(
                [namespace, values, settings.kube_version, str(settings.chart), settings.helm],
                sort_keys=True,
            ).encode()
            + helm.chart_fingerprint(settings.chart).encode()
        ).hexdigest()
        cached = self.rendered.get(owner_uid)
        if cached is not None and cached[0] == key:
            return cached[1]
        objects = await helm.template(
            settings.helm, settings.chart, namespace, values, settings.kube_version
        )
        self.rendered[owner_uid] = (key, objects)
        return objects

    def storage_fresh(self, owner_uid: str, digest: str) -> str | None:
        """The marker id of a bucket check that passed recently for the same inputs."""
        checked = self.storage_checked.get(owner_uid)
        if (
            checked is not None
            and checked[0] == digest
            and time.monotonic() - checked[1] < self.settings.storage_recheck_seconds
        ):
            return checked[2]
        return None

    def storage_passed(self, owner_uid: str, digest: str, marker: str) -> None:
        self.storage_checked[owner_uid] = (digest, time.monotonic(), marker)
