"""What a Portal made, as its status records it (`status.owned`): the namespace (uid), the
bucket (name, endpoint, marker id), the keyring (key ids, fingerprint) and the session secret
(fingerprint), each with the time it was first seen made.

Why: a part that held data and is gone must never be made again silently (a new keyring makes
every stored document unreadable; a new empty bucket hides that the documents are gone). The
operator only knows that something *was* there from what it recorded before, so these records
are the memory every "missing → Stalled, never remade" decision reads. Nothing here is secret:
fingerprints are truncated SHA-256 digests of random key material.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Owned:
    namespace_uid: str = ""
    namespace_since: str = ""
    bucket: str = ""
    bucket_endpoint: str = ""
    bucket_marker: str = ""  # the marker id written into the bucket
    bucket_since: str = ""
    key_ids: tuple[str, ...] = ()
    keyring_fingerprint: str = ""
    keyring_since: str = ""
    session_fingerprint: str = ""
    session_since: str = ""

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> Owned:
        status = status or {}
        raw = status.get("owned") or {}
        namespace = raw.get("namespace") or {}
        bucket = raw.get("bucket") or {}
        ring = raw.get("keyring") or {}
        session = raw.get("sessionSecret") or {}
        ids = tuple(item for item in str(ring.get("ids") or "").split(",") if item)
        if not ids and status.get("primaryKeyId"):
            # Status of an operator before these records: a keyring existed all the same.
            ids = (str(status["primaryKeyId"]),)
        return cls(
            namespace_uid=str(namespace.get("uid") or ""),
            namespace_since=str(namespace.get("since") or ""),
            bucket=str(bucket.get("name") or ""),
            bucket_endpoint=str(bucket.get("endpoint") or ""),
            bucket_marker=str(bucket.get("marker") or ""),
            bucket_since=str(bucket.get("since") or ""),
            key_ids=ids,
            keyring_fingerprint=str(ring.get("fingerprint") or ""),
            keyring_since=str(ring.get("since") or ""),
            session_fingerprint=str(session.get("fingerprint") or ""),
            session_since=str(session.get("since") or ""),
        )

    @property
    def had_keyring(self) -> bool:
        return bool(self.key_ids)

    def with_namespace(self, uid: str, now: str) -> Owned:
        return replace(
            self,
            namespace_uid=uid,
            namespace_since=self.namespace_since if uid == self.namespace_uid else now,
        )

    def with_bucket(self, name: str, endpoint: str, marker: str, now: str) -> Owned:
        same = (name, endpoint, marker) == (self.bucket, self.bucket_endpoint, self.bucket_marker)
        return replace(
            self,
            bucket=name,
            bucket_endpoint=endpoint,
            bucket_marker=marker,
            bucket_since=self.bucket_since if same and self.bucket_since else now,
        )

    def with_keyring(self, ids: tuple[str, ...], fingerprint: str, now: str) -> Owned:
        return replace(
            self,
            key_ids=ids,
            keyring_fingerprint=fingerprint,
            keyring_since=self.keyring_since or now,
        )

    def with_session(self, fingerprint: str, now: str) -> Owned:
        same = fingerprint == self.session_fingerprint
        return replace(
            self,
            session_fingerprint=fingerprint,
            session_since=self.session_since if same and self.session_since else now,
        )

    def to_status(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self.namespace_uid:
            result["namespace"] = {"uid": self.namespace_uid, "since": self.namespace_since}
        if self.bucket:
            result["bucket"] = {
                "name": self.bucket,
                "endpoint": self.bucket_endpoint,
                "marker": self.bucket_marker,
                "since": self.bucket_since,
            }
        if self.key_ids:
            result["keyring"] = {
                "ids": ",".join(self.key_ids),
                "fingerprint": self.keyring_fingerprint,
                "since": self.keyring_since,
            }
        if self.session_fingerprint:
            result["sessionSecret"] = {
                "fingerprint": self.session_fingerprint,
                "since": self.session_since,
            }
        return result


def fingerprint(material: bytes | str) -> str:
    """A short one-way digest of secret material (to recognise it, never to recover it)."""
    data = material.encode() if isinstance(material, str) else material
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]
