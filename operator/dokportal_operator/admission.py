"""The admission rules for Portals (served by the operator's validating webhook): pure, so the
webhook and the unit tests share them. The reconcile loop re-checks the same rules (a Portal
created while the webhook was down is Stalled instead), see collisions and reconcile.validate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dokportal_operator import collisions
from dokportal_operator.collisions import Claim
from dokportal_operator.settings import OperatorSettings
from dokportal_operator.spec import parse


def _secret_refs(spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    refs = []
    s3 = (spec.get("storage") or {}).get("s3") or {}
    if s3.get("credentialsSecret"):
        refs.append(("storage.s3.credentialsSecret", s3["credentialsSecret"]))
    pg = (spec.get("database") or {}).get("postgresql") or {}
    if pg.get("connectionSecret"):
        refs.append(("database.postgresql.connectionSecret", pg["connectionSecret"]))
    restore = (spec.get("encryption") or {}).get("restoreFrom")
    if restore:
        refs.append(("encryption.restoreFrom", restore))
    return refs


def problems(
    settings: OperatorSettings,
    body: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    claims: Mapping[tuple[str, str], Iterable[Claim]] | None,
) -> list[str]:
    """Why this Portal (being created, or updated from `old`) is refused; empty: admitted."""
    # Imported here: reconcile imports the resource modules, which need nothing of this.
    from dokportal_operator.reconcile import validate

    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    name = str(meta.get("name") or "")
    found: list[str] = []
    if claims is not None:
        # On update only what the change newly claims: an unchanged claim is checked by the
        # loop (the earlier Portal must stay editable while a later one clashes with it).
        before = set(collisions.claim_keys(name, (old or {}).get("spec") or {})) if old else set()
        fresh = set(collisions.claim_keys(name, spec)) - before
        found.extend(
            conflict.message
            for conflict in collisions.conflicts(
                name, str(meta.get("uid") or ""), "", spec, claims, new=True, only=fresh
            )
        )
    for field, ref in _secret_refs(spec):
        namespace = str(ref.get("namespace") or settings.namespace)
        if not settings.secret_namespace_allowed(namespace):
            found.append(
                f"spec.{field} names Secret {namespace}/{ref.get('name')}: only Secrets in the "
                f"operator's namespace {settings.namespace} (or namespaces its settings allow) "
                "may be named"
            )
    try:
        parsed = parse({"metadata": {"uid": "", **meta}, "spec": spec}, settings.namespace)
    except (KeyError, TypeError, ValueError):
        return found  # the schema reports what is malformed
    found.extend(message for _, message in validate(parsed))
    return found
