"""The keyring Secret and its rotation; the session secret.

Rotation, step by step (the state lives in annotations on the keyring Secret, so a restarted
operator continues where it stopped):
1. due (interval) or requested (annotation on the Portal): add a new primary, note the old
   ids as retiring — one write;
2. the pods roll (the chart puts the primary id into the pod template);
3. once every pod runs with the new primary, `dokportal keys rewrap` runs as a Job;
4. only when that Job succeeded are the retiring keys removed (`retire`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dokportal_operator import constants as c
from dokportal_operator import keyring, render
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman, Waiting
from dokportal_operator.kube import Obj, Ref
from dokportal_operator.spec import PortalSpec

_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class KeyState:
    primary: str
    ids: tuple[str, ...]
    retiring: tuple[str, ...]
    rotated_at: datetime

    def next_rotation(self, days: int) -> datetime:
        return self.rotated_at + timedelta(days=days)


def _ref(spec: PortalSpec) -> Ref:
    return Ref("Secret", c.KEYRING_SECRET, spec.namespace)


def _annotations(secret: Obj) -> dict[str, str]:
    return dict((secret.get("metadata") or {}).get("annotations") or {})


def _read(secret: Obj) -> keyring.Keyring:
    raw = (secret.get("data") or {}).get(c.KEYRING_KEY)
    if not raw:
        raise NeedsHuman("KeyringInvalid", f"Secret {c.KEYRING_SECRET} has no {c.KEYRING_KEY}")
    try:
        return keyring.parse(base64.b64decode(raw))
    except (keyring.KeyringInvalid, ValueError) as error:
        raise NeedsHuman("KeyringInvalid", f"Secret {c.KEYRING_SECRET}: {error}") from None


def _state(secret: Obj, ring: keyring.Keyring) -> KeyState:
    notes = _annotations(secret)
    try:
        rotated = datetime.strptime(notes.get(c.ROTATED_AT_ANNOTATION, ""), _TIME).replace(
            tzinfo=UTC
        )
    except ValueError:
        rotated = datetime.fromtimestamp(0, UTC)
    retiring = tuple(
        key for key in notes.get(c.RETIRING_ANNOTATION, "").split(",") if key and key in ring.keys
    )
    return KeyState(ring.primary, ring.ids, retiring, rotated)


def _body(spec: PortalSpec, ring: keyring.Keyring, notes: dict[str, str]) -> Obj:
    return render.secret(
        spec, c.KEYRING_SECRET, {c.KEYRING_KEY: ring.to_json()}, c.PART_KEYS, notes
    )


async def ensure(ctx: Context, spec: PortalSpec, now: datetime) -> KeyState:
    """Make the keyring (and session secret) exist; start a rotation that is due."""
    await _ensure_session_secret(ctx, spec)
    secret = await ctx.kube.get(_ref(spec))
    if secret is None:
        ring = keyring.generate(now.date())
        notes = {
            c.ROTATED_AT_ANNOTATION: now.strftime(_TIME),
            c.ROTATE_HANDLED_ANNOTATION: spec.rotate_request or "",
        }
        secret = await ctx.kube.create(_body(spec, ring, notes))
        if secret is None:  # made by an earlier run of ours in the meantime
            secret = await ctx.kube.get(_ref(spec))
        if secret is None:
            raise Waiting("KeyringPending", "the keyring Secret is being created")
    ring = _read(secret)
    state = _state(secret, ring)
    notes = _annotations(secret)
    requested = bool(spec.rotate_request) and spec.rotate_request != notes.get(
        c.ROTATE_HANDLED_ANNOTATION, ""
    )
    due = now >= state.next_rotation(spec.rotation_days)
    if (requested or due) and not state.retiring:
        rotated = ring.rotated(now.date())
        new_notes = {
            **notes,
            c.ROTATED_AT_ANNOTATION: now.strftime(_TIME),
            c.RETIRING_ANNOTATION: ",".join(ring.ids),
            c.ROTATE_HANDLED_ANNOTATION: spec.rotate_request or "",
        }
        secret["metadata"]["annotations"] = new_notes
        secret["data"] = _body(spec, rotated, new_notes)["data"]
        # replace() carries the resourceVersion: a concurrent change fails instead of losing keys
        secret = await ctx.kube.replace(secret)
        ring = rotated
        state = _state(secret, ring)
    return state


async def retire(ctx: Context, spec: PortalSpec) -> None:
    """The rewrap Job succeeded: drop the retiring keys."""
    secret = await ctx.kube.get(_ref(spec))
    if secret is None:
        return
    ring = _read(secret)
    state = _state(secret, ring)
    notes = _annotations(secret)
    notes.pop(c.RETIRING_ANNOTATION, None)
    secret["metadata"]["annotations"] = notes
    secret["data"] = _body(spec, ring.without(set(state.retiring)), notes)["data"]
    await ctx.kube.replace(secret)


def condition(state: KeyState) -> Condition:
    if state.retiring:
        return Condition(
            c.KEYS_READY,
            True,
            "RotationInProgress",
            f"new primary key {state.primary}; {', '.join(state.retiring)} retire after the "
            "rewrap Job succeeded",
        )
    return Condition(
        c.KEYS_READY, True, "KeyringReady", f"primary key {state.primary} ({len(state.ids)} in all)"
    )


async def _ensure_session_secret(ctx: Context, spec: PortalSpec) -> None:
    ref = Ref("Secret", c.SESSION_SECRET, spec.namespace)
    if await ctx.kube.get(ref) is None:
        body = render.secret(
            spec, c.SESSION_SECRET, {c.SESSION_KEY: keyring.session_secret()}, c.PART_KEYS
        )
        await ctx.kube.create(body)
