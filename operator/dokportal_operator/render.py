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
from decimal import Decimal
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


# What a portal container gets when the spec says nothing (the chart's defaults, too).
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "256Mi"}
DEFAULT_LIMITS = {"cpu": "1", "memory": "512Mi"}
# The chart's clamd pod (charts/portal/templates/clamd.yaml): clamd's own resources plus the
# freshclam sidecar (its CPU limit from the LimitRange default); keep in step with the chart.
CLAMD_POD = {
    ("requests", "cpu"): "110m",
    ("requests", "memory"): "1344Mi",
    ("limits", "cpu"): "3",
    ("limits", "memory"): "3584Mi",
}
_SUFFIXES = {
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def quantity(value: object) -> Decimal:
    """A Kubernetes quantity as a number (the CRD has checked it is one)."""
    text = str(value).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
    return Decimal(text)


def _per_pod(spec: PortalSpec, kind: str, resource: str) -> Decimal:
    given = (spec.resources.get(kind) or {}).get(resource)
    defaults = DEFAULT_LIMITS if kind == "limits" else DEFAULT_REQUESTS
    return quantity(given if given is not None else defaults[resource])


def _total(amount: Decimal, resource: str) -> str:
    """In the form the API server writes back (so a comparison finds no difference)."""
    if resource == "cpu":
        milli = int((amount * 1000).to_integral_value())
        return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
    size = int(amount.to_integral_value())
    for suffix, unit in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def namespace_objects(spec: PortalSpec) -> list[Obj]:
    """The tenant's namespace and the guard rails in it."""
    pods = max(6, 2 * spec.replicas + 4)  # rolling surge plus a migration and a rewrap Job
    # CPU and memory for that many pods of the spec's size (or the defaults): a tenant cannot
    # take the node from the others. The LimitRange gives containers without a size one.
    sizes = {
        (kind, resource): pods * _per_pod(spec, kind, resource)
        for kind in ("requests", "limits")
        for resource in ("cpu", "memory")
    }
    if spec.virus_scan:
        pods += 2  # clamd and its rolling replacement, each of the chart's clamd pod size
        for key, amount in CLAMD_POD.items():
            sizes[key] += 2 * quantity(amount)
    compute = {
        f"{kind}.{resource}": _total(amount, resource) for (kind, resource), amount in sizes.items()
    }
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
                **compute,
            }
        },
    }
    limits: Obj = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": c.LIMIT_RANGE},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": dict(DEFAULT_LIMITS),
                    "defaultRequest": dict(DEFAULT_REQUESTS),
                }
            ]
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
        stamp(limits, spec, c.PART_NAMESPACE),
        stamp(deny, spec, c.PART_NAMESPACE),
        stamp(account, spec, c.PART_NAMESPACE),
    ]


def tenant_binding(spec: PortalSpec, operator_namespace: str, account: str, role: str) -> Obj:
    """The operator's rights inside the tenant namespace: a RoleBinding of its ServiceAccount
    to the chart's tenant ClusterRole. Cluster-wide it may write Secrets, Deployments and the
    rest nowhere; only where it made a namespace and bound itself."""
    body: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": c.TENANT_BINDING},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": operator_namespace}],
    }
    return stamp(body, spec, c.PART_NAMESPACE)


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
        "virusScan": {
            "enabled": spec.virus_scan,
            # clamd must take the largest upload (its StreamMaxLength); 25 MB is its default.
            "streamMaxMB": max(25, spec.max_file_mb),
            "databaseMirror": spec.virus_scan_mirror,
        },
        # The operator makes the ServiceAccount itself (before any Job needs it).
        "serviceAccount": {"create": False, "name": c.SERVICE_ACCOUNT},
    }
    if facts.credentials_checksum:
        values["podAnnotations"] = {c.CREDENTIALS_CHECKSUM_ANNOTATION: facts.credentials_checksum}
    if spec.resources:
        values["resources"] = dict(spec.resources)
    if spec.node_selector:
        values["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        values["tolerations"] = [dict(t) for t in spec.tolerations]
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
