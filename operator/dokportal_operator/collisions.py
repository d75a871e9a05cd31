"""What two Portals must never share: a hostname, a bucket (at the same endpoint), a tenant
slug. The same rules serve the admission webhook (refuse the second) and the reconcile loop
(a Portal created while the webhook was down: the later one is Stalled, the first keeps
serving).

Every Portal's claims sit in a kopf index (kept from the watch, no extra API reads); the
Portal created first (creationTimestamp, then name) holds a claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# claim kind → (condition reason, what is shared)
REASONS = {
    "hostname": ("HostnameTaken", "the hostname"),
    "bucket": ("BucketTaken", "the bucket"),
    "slug": ("SlugTaken", "the tenant slug"),
}


@dataclass(frozen=True, order=True)
class Claim:
    created: str
    name: str
    uid: str


def _endpoint(url: str) -> str:
    return url.strip().rstrip("/").lower()


def claim_keys(name: str, spec: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(kind, value) → a readable value, for what this Portal's spec claims."""
    tenant = spec.get("tenant") or {}
    keys: dict[tuple[str, str], str] = {}
    hostname = str(spec.get("hostname") or "").lower()
    if hostname:
        keys[("hostname", hostname)] = hostname
    keys[("slug", str(tenant.get("slug") or name))] = str(tenant.get("slug") or name)
    s3 = (spec.get("storage") or {}).get("s3") or {}
    if s3.get("bucket"):  # a generated bucket name carries the uid: it cannot collide
        endpoint = _endpoint(str(s3.get("endpoint") or ""))
        keys[("bucket", f"{endpoint}|{s3['bucket']}")] = f"{s3['bucket']} at {endpoint}"
    return keys


def index(
    name: str, spec: Mapping[str, Any], meta: Mapping[str, Any]
) -> dict[tuple[str, str], Claim]:
    """The kopf index function: each claim of this Portal, keyed by (kind, value)."""
    claim = Claim(str(meta.get("creationTimestamp") or ""), name, str(meta.get("uid") or ""))
    return {key: claim for key in claim_keys(name, spec)}


@dataclass(frozen=True)
class Conflict:
    reason: str
    message: str
    other: str


def conflicts(
    name: str,
    uid: str,
    created: str,
    spec: Mapping[str, Any],
    claims: Mapping[tuple[str, str], Iterable[Claim]],
    *,
    new: bool = False,
    only: set[tuple[str, str]] | None = None,
) -> list[Conflict]:
    """Claims of this Portal that an earlier Portal holds. `new`: the Portal is being created
    or changed (admission): any other Portal holding the claim counts. `only`: look at these
    claims only."""
    me = Claim(created, name, uid)
    found = []
    for key, text in claim_keys(name, spec).items():
        if only is not None and key not in only:
            continue
        holders = [
            claim for claim in claims.get(key, ()) if claim.uid != uid and claim.name != name
        ]
        earlier = sorted(claim for claim in holders if new or claim < me)
        if earlier:
            reason, what = REASONS[key[0]]
            other = earlier[0].name
            found.append(
                Conflict(
                    reason,
                    f"{what} {text} is already used by Portal {other}; two Portals never "
                    f"share it. Choose another {key[0]} for Portal {name}",
                    other,
                )
            )
    return found
