"""A small synchronous Kubernetes client for the tests (httpx, admin certificate).

Independent of the operator's own client on purpose: the tests look at the cluster the way
an administrator would, through plain REST.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from tests.support.cluster import Cluster

T = TypeVar("T")
Obj = dict[str, Any]

# kind → (api prefix, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("api/v1", "namespaces", False),
    "Node": ("api/v1", "nodes", False),
    "PersistentVolume": ("api/v1", "persistentvolumes", False),
    "Secret": ("api/v1", "secrets", True),
    "ConfigMap": ("api/v1", "configmaps", True),
    "Service": ("api/v1", "services", True),
    "ServiceAccount": ("api/v1", "serviceaccounts", True),
    "Pod": ("api/v1", "pods", True),
    "ResourceQuota": ("api/v1", "resourcequotas", True),
    "LimitRange": ("api/v1", "limitranges", True),
    "PersistentVolumeClaim": ("api/v1", "persistentvolumeclaims", True),
    "Event": ("api/v1", "events", True),
    "Deployment": ("apis/apps/v1", "deployments", True),
    "ReplicaSet": ("apis/apps/v1", "replicasets", True),
    "Job": ("apis/batch/v1", "jobs", True),
    "NetworkPolicy": ("apis/networking.k8s.io/v1", "networkpolicies", True),
    "Ingress": ("apis/networking.k8s.io/v1", "ingresses", True),
    "PodDisruptionBudget": ("apis/policy/v1", "poddisruptionbudgets", True),
    "Portal": ("apis/dokportal.dev/v1alpha1", "portals", False),
    "CustomResourceDefinition": (
        "apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
    "ClusterRole": ("apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ValidatingWebhookConfiguration": (
        "apis/admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        False,
    ),
}


class ApiFailure(RuntimeError):
    def __init__(self, response: httpx.Response) -> None:
        try:
            self.message = str(response.json().get("message", response.text))
        except ValueError:
            self.message = response.text
        self.code = response.status_code
        super().__init__(f"{response.status_code}: {self.message}")


class Api:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        # Warning headers of the last apply (e.g. Pod Security "would violate ..." notes).
        self.last_warnings: list[str] = []
        context = ssl.create_default_context(cafile=str(cluster.ca_cert))
        pki = cluster.directory / "pki"
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self._http = httpx.Client(base_url=cluster.server, verify=context, timeout=15)

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def path(kind: str, name: str | None = None, namespace: str | None = None) -> str:
        prefix, plural, namespaced = KINDS[kind]
        where = f"/namespaces/{namespace}" if namespaced and namespace else ""
        return f"/{prefix}{where}/{plural}" + (f"/{name}" if name else "")

    def _check(self, response: httpx.Response) -> Obj:
        if response.status_code >= 400:
            raise ApiFailure(response)
        result: Obj = response.json()
        return result

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        response = self._http.get(self.path(kind, name, namespace))
        if response.status_code == 404:
            return None
        return self._check(response)

    def list(
        self, kind: str, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Obj]:
        params = {}
        if labels:
            params["labelSelector"] = ",".join(f"{k}={v}" for k, v in labels.items())
        items: list[Obj] = self._check(
            self._http.get(self.path(kind, None, namespace), params=params)
        )["items"]
        return items

    def apply(self, obj: Obj, *, dry_run: bool = False, manager: str = "tests") -> Obj:
        meta = obj["metadata"]
        params = {"fieldManager": manager, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        response = self._http.patch(
            self.path(obj["kind"], meta["name"], meta.get("namespace")),
            content=json.dumps(obj),
            params=params,
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        self.last_warnings = response.headers.get_list("warning")
        return self._check(response)

    def create(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        return self._check(
            self._http.post(self.path(obj["kind"], None, meta.get("namespace")), json=obj)
        )

    def patch(
        self,
        kind: str,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> Obj:
        path = self.path(kind, name, namespace) + (f"/{subresource}" if subresource else "")
        response = self._http.patch(
            path,
            content=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        return self._check(response)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        response = self._http.request(
            "DELETE",
            self.path(kind, name, namespace),
            json={"propagationPolicy": "Background"},
        )
        if response.status_code == 404:
            return False
        self._check(response)
        return True


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)  # a poll interval, not a guess at how long anything takes
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def condition(obj: Obj | None, kind: str) -> Obj:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}
