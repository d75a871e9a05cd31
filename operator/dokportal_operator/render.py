"""Pure functions: a Portal spec (plus a few observed facts) → desired objects and chart values.

No I/O here, so all of it is unit-tested without a cluster. Everything namespace-level (the
namespace, its quota and default-deny policy, the ServiceAccount, Secrets, the data claim) is
built here; the portal's workload comes from charts/portal with the values from
`chart_values`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dokportal_operator import constants as c
from dokportal_operator.spec import PortalSpec

Obj = dict[str, Any]


@dataclass(frozen=True)
class WorkloadFacts:
    """What the workload depends on besides the spec: found or made by earlier steps."""

    bucket: str | None
    primary_key_id: str
    rewrap: bool
    # A digest of the credentials copied into the tenant namespace: in the pod template, so
    # new credentials roll the pods (they read them at start).
    credentials_checksum: str = ""


def labels(spec: PortalSpec, part: str) -> dict[str, str]:
    return {
        c.MANAGED_BY_LABEL: c.MANAGED_BY,
        c.PORTAL_LABEL: spec.name,
        c.PART_LABEL: part,
    }


def owner_reference(spec: PortalSpec) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "name": spec.name,
        "uid": spec.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def stamp(obj: Obj, spec: PortalSpec, part: str, *, namespaced: bool = True) -> Obj:
    """Label, own and place an object (a new dict; the input is left alone)."""
    result: Obj = json.loads(json.dumps(obj))
    meta = result.setdefault("metadata", {})
    if namespaced:
        meta["namespace"] = spec.namespace
    meta["labels"] = {**(meta.get("labels") or {}), **labels(spec, part)}
    meta["ownerReferences"] = [owner_reference(spec)]
    return result


def bucket_name(spec: PortalSpec) -> str | None:
    """The spec's bucket, or one derived from name and uid: stable across operator restarts,
    new for a Portal created again under the same name."""
    if spec.s3 is None:
        return None
    if spec.s3.bucket:
        return spec.s3.bucket
    return f"dokportal-{spec.name}-{spec.uid.replace('-', '')[:8]}"


def namespace_objects(spec: PortalSpec) -> list[Obj]:
    """The tenant's namespace and the guard rails in it."""
    pods = max(6, 2 * spec.replicas + 4)  # rolling surge plus a migration and a rewrap Job
    namespace: Obj = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": spec.namespace,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }
    quota: Obj = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": c.QUOTA},
        "spec": {
            "hard": {
                "pods": str(pods),
                "persistentvolumeclaims": "2",
                "services": "4",
                "services.loadbalancers": "0",
                "services.nodeports": "0",
                "secrets": "20",
                "configmaps": "20",
            }
        },
    }
    deny: Obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": c.DEFAULT_DENY},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    account: Obj = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": c.SERVICE_ACCOUNT},
        "automountServiceAccountToken": False,
    }
    return [
        stamp(namespace, spec, c.PART_NAMESPACE, namespaced=False),
        stamp(quota, spec, c.PART_NAMESPACE),
        stamp(deny, spec, c.PART_NAMESPACE),
        stamp(account, spec, c.PART_NAMESPACE),
    ]


def secret(
    spec: PortalSpec,
    name: str,
    data: Mapping[str, str],
    part: str,
    annotations: Mapping[str, str] | None = None,
) -> Obj:
    """An Opaque Secret; `data` values are plain text and encoded here."""
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    return stamp(body, spec, part)


def claim(spec: PortalSpec) -> Obj | None:
    volume = spec.claim
    if not spec.needs_claim or volume is None:
        return None
    body: Obj = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": c.DATA_CLAIM},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": volume.size}},
        },
    }
    if volume.storage_class:
        body["spec"]["storageClassName"] = volume.storage_class
    return stamp(body, spec, c.PART_STORAGE)


def retained_keyring(
    spec: PortalSpec, operator_namespace: str, keyring_json: str, notes: Mapping[str, str]
) -> Obj:
    """The keyring of a deleted Portal with deletionPolicy Retain: data without its key is
    garbage, so it moves next to the operator (no owner: it outlives the Portal)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"retained-keyring-{spec.name}-{spec.uid.replace('-', '')[:8]}",
            "namespace": operator_namespace,
            "labels": {c.MANAGED_BY_LABEL: c.MANAGED_BY, c.RETAINED_FROM_LABEL: spec.name},
            "annotations": {f"{c.GROUP}/{key}": value for key, value in notes.items()},
        },
        "type": "Opaque",
        "data": {c.KEYRING_KEY: base64.b64encode(keyring_json.encode()).decode()},
    }


def _port(endpoint: str) -> int:
    parts = urlsplit(endpoint)
    if parts.port:
        return parts.port
    return 80 if parts.scheme == "http" else 443


def chart_values(spec: PortalSpec, facts: WorkloadFacts) -> dict[str, Any]:
    """Values for charts/portal, computed from the Portal."""
    repository, _, tag = spec.image.rpartition(":")
    if not repository or "/" in tag:  # no tag at all ("registry:5000/portal")
        repository, tag = spec.image, "latest"
    egress_ports = {443}
    if spec.s3 is not None:
        egress_ports.add(_port(spec.s3.endpoint))
    if spec.database_kind == "postgresql":
        egress_ports.add(5432)
    values: dict[str, Any] = {
        "fullnameOverride": c.RELEASE,
        "image": {"repository": repository, "tag": tag, "pullPolicy": spec.image_pull_policy},
        "replicaCount": spec.replicas,
        "tenant": {
            "name": spec.display_name,
            "slug": spec.slug,
            "kind": spec.tenant_kind,
            "referencePrefix": spec.reference_prefix,
            "languages": list(spec.languages),
            "defaultLanguage": spec.default_language,
            "timezone": spec.timezone,
            "categories": list(spec.categories),
            "contactEmail": spec.contact_email,
            "imprintUrl": spec.imprint_url,
            "privacyUrl": spec.privacy_url,
            "primaryColor": spec.primary_color,
        },
        "publicBaseUrl": spec.url,
        "upload": {"maxFileMB": spec.max_file_mb, "maxFiles": spec.max_files},
        "storage": {"kind": "s3" if spec.s3 else "folder"},
        "database": {"kind": spec.database_kind},
        "persistence": {"existingClaim": c.DATA_CLAIM if spec.needs_claim else ""},
        "keyring": {"existingSecret": c.KEYRING_SECRET, "primaryKeyId": facts.primary_key_id},
        "sessionSecret": {"existingSecret": c.SESSION_SECRET},
        "ingress": {
            "enabled": True,
            "hostname": spec.hostname,
            "className": spec.ingress_class or "",
            "tlsSecretName": spec.tls_secret or "",
            "clusterIssuer": spec.cluster_issuer or "",
        },
        "networkPolicy": {
            "enabled": True,
            "ingressControllerNamespace": spec.ingress_controller_namespace,
            "egressPorts": sorted(egress_ports),
        },
        "migration": {"enabled": True},
        "rewrap": {"enabled": facts.rewrap},
        # The operator makes the ServiceAccount itself (before any Job needs it).
        "serviceAccount": {"create": False, "name": c.SERVICE_ACCOUNT},
    }
    if facts.credentials_checksum:
        values["podAnnotations"] = {c.CREDENTIALS_CHECKSUM_ANNOTATION: facts.credentials_checksum}
    if spec.resources:
        values["resources"] = dict(spec.resources)
    if spec.s3 is not None:
        values["storage"]["s3"] = {
            "endpoint": spec.s3.endpoint,
            "bucket": facts.bucket or "",
            "region": spec.s3.region,
            "pathStyle": spec.s3.path_style,
            "existingSecret": c.S3_SECRET,
        }
    if spec.database_kind == "postgresql":
        values["database"].update({"existingSecret": c.DATABASE_SECRET, "urlKey": c.DATABASE_KEY})
    return values


def workload(spec: PortalSpec, rendered: Iterable[Obj]) -> list[Obj]:
    """Stamp what the chart rendered: our namespace, labels and owner."""
    return [stamp(obj, spec, c.PART_WORKLOAD) for obj in rendered if obj]


def is_job(obj: Obj, component: str) -> bool:
    meta = obj.get("metadata") or {}
    return obj.get("kind") == "Job" and (meta.get("labels") or {}).get(c.COMPONENT_LABEL) == (
        component
    )


def fingerprint(obj: Obj) -> str:
    """A digest of the desired object, to skip re-applying what is already applied."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
