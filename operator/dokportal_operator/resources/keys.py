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
from dokportal_operator import keyring, ownership, render
from dokportal_operator.conditions import Condition
from dokportal_operator.context import Context
from dokportal_operator.errors import NeedsHuman, Waiting
from dokportal_operator.kube import Obj, Ref
from dokportal_operator.ownership import Owned
from dokportal_operator.resources import credentials
from dokportal_operator.spec import PortalSpec

_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class KeyState:
    primary: str
    ids: tuple[str, ...]
    retiring: tuple[str, ...]
    rotated_at: datetime
    fingerprint: str = ""  # of the keyring (recorded in status.owned, never the material)
    session_fingerprint: str = ""

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


def _state(secret: Obj, ring: keyring.Keyring, session: str = "") -> KeyState:
    notes = _annotations(secret)
    try:
        rotated = datetime.strptime(notes.get(c.ROTATED_AT_ANNOTATION, ""), _TIME).replace(
            tzinfo=UTC
        )
    except ValueError:
        # A keyring put back by hand (or restored) has no note: its primary's id carries the
        # day it was made (k-YYYYMMDD-…) — not "never", which would rotate at once.
        try:
            rotated = datetime.strptime(ring.primary.split("-")[1], "%Y%m%d").replace(tzinfo=UTC)
        except (IndexError, ValueError):
            rotated = datetime.fromtimestamp(0, UTC)
    retiring = tuple(
        key for key in notes.get(c.RETIRING_ANNOTATION, "").split(",") if key and key in ring.keys
    )
    return KeyState(
        ring.primary, ring.ids, retiring, rotated, ownership.fingerprint(ring.to_json()), session
    )


def _body(spec: PortalSpec, ring: keyring.Keyring, notes: dict[str, str]) -> Obj:
    return render.secret(
        spec, c.KEYRING_SECRET, {c.KEYRING_KEY: ring.to_json()}, c.PART_KEYS, notes
    )


async def ensure(ctx: Context, spec: PortalSpec, now: datetime, owned: Owned) -> KeyState:
    """Make the keyring (and session secret) exist; start a rotation that is due.

    A keyring is generated only for a Portal that never had one (`owned`): one that is gone is
    put back from `spec.encryption.restoreFrom`, or the Portal is Stalled (KeyringMissing) —
    a new keyring would make every stored document unreadable."""
    session = await _ensure_session_secret(ctx, spec, owned)
    secret = await ctx.kube.get(_ref(spec))
    if secret is None:
        if spec.restore_from is not None:
            ring = await _restore_source(ctx, spec, owned)
            notes = {
                c.ROTATE_HANDLED_ANNOTATION: spec.rotate_request or "",
                c.RESTORED_FROM_ANNOTATION: (
                    f"{spec.restore_from.namespace}/{spec.restore_from.name}"
                ),
            }
        elif owned.had_keyring:
            raise NeedsHuman("KeyringMissing", missing_message(ctx, spec, owned))
        else:
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
    state = _state(secret, ring, session)
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
        state = _state(secret, ring, session)
    return state


def missing_message(ctx: Context, spec: PortalSpec, owned: Owned) -> str:
    return (
        f"Secret {spec.namespace}/{c.KEYRING_SECRET} is gone, but this Portal's documents are "
        f"encrypted with the keys {', '.join(owned.key_ids)} (keyring "
        f"{owned.keyring_fingerprint or 'of an earlier version'}"
        f"{', since ' + owned.keyring_since if owned.keyring_since else ''}). A new keyring "
        "would make them unreadable, so none is made and the pods are left as they are. Put it "
        f"back: copy the keyring (key {c.KEYRING_KEY}) into a Secret in namespace "
        f"{ctx.settings.namespace} (a retained-keyring-{spec.name}-* copy there, or your backup) "
        "and set spec.encryption.restoreFrom.name to that Secret; or re-create Secret "
        f"{c.KEYRING_SECRET} in {spec.namespace} from the backup"
    )


async def _restore_source(ctx: Context, spec: PortalSpec, owned: Owned) -> keyring.Keyring:
    """The keyring named by spec.encryption.restoreFrom, if it holds every recorded key."""
    ref = spec.restore_from
    assert ref is not None
    values = await credentials.read(ctx, ref, (ref.key,), "RestoreFrom")
    try:
        ring = keyring.parse(values[ref.key])
    except keyring.KeyringInvalid as error:
        raise NeedsHuman(
            "KeyringRestoreInvalid", f"Secret {ref.namespace}/{ref.name}: {error}"
        ) from None
    lacking = sorted(set(owned.key_ids) - set(ring.ids))
    if lacking:
        raise NeedsHuman(
            "KeyringRestoreMismatch",
            f"Secret {ref.namespace}/{ref.name} lacks the keys {', '.join(lacking)} this Portal "
            "used last: documents sealed with them would stay unreadable. Name a newer copy "
            "in spec.encryption.restoreFrom",
        )
    return ring


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


async def _ensure_session_secret(ctx: Context, spec: PortalSpec, owned: Owned) -> str:
    """The session (CSRF) secret, made once. Gone after it existed: Stalled until a person
    asks for a new one (it signs everyone out) — never silently a new value."""
    ref = Ref("Secret", c.SESSION_SECRET, spec.namespace)
    secret = await ctx.kube.get(ref)
    if secret is None:
        recorded = owned.session_fingerprint
        if recorded and spec.regenerate_session != recorded:
            raise NeedsHuman(
                "SessionSecretMissing",
                f"Secret {spec.namespace}/{c.SESSION_SECRET} (fingerprint {recorded}) is gone. "
                "Re-create it from backup, or accept a new one (everyone is signed out): "
                f"kubectl annotate portal {spec.name} --overwrite "
                f"{c.REGENERATE_SESSION_ANNOTATION}={recorded}",
            )
        body = render.secret(
            spec, c.SESSION_SECRET, {c.SESSION_KEY: keyring.session_secret()}, c.PART_KEYS
        )
        secret = await ctx.kube.create(body) or await ctx.kube.get(ref)
        if secret is None:
            raise Waiting("SessionSecretPending", "the session Secret is being created")
    raw = (secret.get("data") or {}).get(c.SESSION_KEY) or ""
    return ownership.fingerprint(raw) if raw else ""
