"""The only module that talks to the Kubernetes API (lightkube's async client).

Objects travel as plain dicts (what helm renders, what the API returns), so nothing is lost
to a model class that does not know a field. Writes of desired state go through server-side
apply under the operator's own field manager.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lightkube import ApiError as ApiError
from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.types import CascadeType, PatchType

from dokportal_operator import constants as c
from dokportal_operator import metrics

Obj = dict[str, Any]

# kind → (group, version, plural, namespaced): every kind the operator reads or writes.
KINDS: Mapping[str, tuple[str, str, str, bool]] = {
    "Namespace": ("", "v1", "namespaces", False),
    "PersistentVolume": ("", "v1", "persistentvolumes", False),
    "ResourceQuota": ("", "v1", "resourcequotas", True),
    "LimitRange": ("", "v1", "limitranges", True),
    "ServiceAccount": ("", "v1", "serviceaccounts", True),
    "Secret": ("", "v1", "secrets", True),
    "ConfigMap": ("", "v1", "configmaps", True),
    "Service": ("", "v1", "services", True),
    "PersistentVolumeClaim": ("", "v1", "persistentvolumeclaims", True),
    "Deployment": ("apps", "v1", "deployments", True),
    "Job": ("batch", "v1", "jobs", True),
    "NetworkPolicy": ("networking.k8s.io", "v1", "networkpolicies", True),
    "Ingress": ("networking.k8s.io", "v1", "ingresses", True),
    "PodDisruptionBudget": ("policy", "v1", "poddisruptionbudgets", True),
    "Event": ("", "v1", "events", True),
    "Lease": ("coordination.k8s.io", "v1", "leases", True),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings", True),
    "ValidatingWebhookConfiguration": (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        False,
    ),
    c.KIND: (c.GROUP, c.VERSION, c.PLURAL, False),
}

# What the chart may render with the operator's values, i.e. what a pass lists (one request
# per kind, every pass) to see the live workload and prune. Not its ServiceAccount and claim:
# the operator makes those itself (serviceAccount.create=false, persistence.existingClaim);
# tests/operator/unit/test_helm_render.py checks that nothing else is rendered.
WORKLOAD_KINDS = (
    "ConfigMap",
    "Service",
    "Deployment",
    "Job",
    "NetworkPolicy",
    "Ingress",
    "PodDisruptionBudget",
)

_RESOURCES: dict[str, Any] = {}


def _resource(kind: str) -> Any:
    """lightkube's generic resource class for a kind (made once)."""
    if kind not in _RESOURCES:
        group, version, plural, namespaced = KINDS[kind]
        factory = create_namespaced_resource if namespaced else create_global_resource
        _RESOURCES[kind] = factory(group, version, kind, plural)
    return _RESOURCES[kind]


def _dict(obj: Any) -> Obj:
    result: Obj = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return result


@dataclass(frozen=True)
class Ref:
    """Which object: kind, name and (for namespaced kinds) namespace."""

    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Ref:
        meta = obj["metadata"]
        return cls(obj["kind"], meta["name"], meta.get("namespace"))

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@dataclass
class WriteCount:
    n: int = 0


# The writes of the pass running in this asyncio task. Every Portal's loop is its own task and
# passes of many Portals interleave, so a process-wide counter would mix them up.
_pass_writes: ContextVar[WriteCount | None] = ContextVar("dokportal_pass_writes", default=None)


@contextlib.contextmanager
def counting_writes() -> Iterator[WriteCount]:
    """Count the writes made inside this block by the current task (and what it awaits)."""
    count = WriteCount()
    token = _pass_writes.set(count)
    try:
        yield count
    finally:
        _pass_writes.reset(token)


def status_code(error: ApiError) -> int:
    return int(getattr(error.status, "code", 0) or error.response.status_code)


class Kube:
    """A thin async facade over lightkube: get, list, apply, create, patch, delete."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        # Every request that changes something; a pass that finds nothing to do adds none.
        self.writes = 0
        # The resourceVersion each object had after our last write to it: a watch event with
        # that version is the echo of our own write, not news (see `is_own_write`).
        self._written: dict[Ref, str] = {}

    def _wrote(self) -> None:
        self.writes += 1
        metrics.WRITES.inc()
        current = _pass_writes.get()
        if current is not None:
            current.n += 1

    def _remember(self, result: Obj) -> Obj:
        version = (result.get("metadata") or {}).get("resourceVersion")
        if version and result.get("kind"):
            self._written[Ref.of(result)] = str(version)
        return result

    def is_own_write(self, ref: Ref, resource_version: str | None) -> bool:
        """Whether this version of the object is the one our last write to it produced."""
        return resource_version is not None and self._written.get(ref) == resource_version

    def forget_namespace(self, namespace: str) -> None:
        for ref in [ref for ref in self._written if ref.namespace == namespace]:
            del self._written[ref]

    @classmethod
    def from_environment(cls) -> Kube:
        """In a pod: the ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config."""
        return cls(AsyncClient(config=KubeConfig.from_env(), field_manager=c.FIELD_MANAGER))

    async def close(self) -> None:
        await self._client.close()

    async def get(self, ref: Ref) -> Obj | None:
        try:
            found = await self._client.get(_resource(ref.kind), ref.name, namespace=ref.namespace)
        except ApiError as error:
            if status_code(error) == 404:
                return None
            raise
        return _dict(found)

    async def list(self, kind: str, namespace: str | None, labels: Mapping[str, str]) -> list[Obj]:
        group, version, _, _ = KINDS[kind]
        api_version = f"{group}/{version}" if group else version
        items = self._client.list(_resource(kind), namespace=namespace, labels=dict(labels))
        # List items come without kind and apiVersion.
        return [{**_dict(item), "kind": kind, "apiVersion": api_version} async for item in items]

    async def apply(self, obj: Obj) -> Obj:
        """Server-side apply; `force` takes back fields someone else changed (drift)."""
        ref = Ref.of(obj)
        self._wrote()
        applied = await self._client.patch(
            _resource(ref.kind),
            ref.name,
            obj,
            namespace=ref.namespace,
            patch_type=PatchType.APPLY,
            field_manager=c.FIELD_MANAGER,
            force=True,
        )
        return self._remember(_dict(applied))

    async def create(self, obj: Obj) -> Obj | None:
        """Create; None when it already exists (someone — maybe us before a restart — won)."""
        ref = Ref.of(obj)
        try:
            self._wrote()
            created = await self._client.create(
                _resource(ref.kind)(obj), field_manager=c.FIELD_MANAGER
            )
        except ApiError as error:
            if status_code(error) == 409:
                return None
            raise
        return self._remember(_dict(created))

    async def replace(self, obj: Obj) -> Obj:
        """Replace with the object's resourceVersion: fails (409) if it changed meanwhile."""
        self._wrote()
        replaced = await self._client.replace(
            _resource(obj["kind"])(obj), field_manager=c.FIELD_MANAGER
        )
        return self._remember(_dict(replaced))

    async def merge_patch(self, ref: Ref, patch: Obj) -> Obj:
        self._wrote()
        patched = await self._client.patch(
            _resource(ref.kind),
            ref.name,
            patch,
            namespace=ref.namespace,
            patch_type=PatchType.MERGE,
            field_manager=c.FIELD_MANAGER,
        )
        return self._remember(_dict(patched))

    async def json_patch(self, ref: Ref, operations: Sequence[Obj]) -> Obj:
        self._wrote()
        patched = await self._client.patch(
            _resource(ref.kind),
            ref.name,
            list(operations),
            namespace=ref.namespace,
            patch_type=PatchType.JSON,
            field_manager=c.FIELD_MANAGER,
        )
        return self._remember(_dict(patched))

    async def delete(self, ref: Ref) -> bool:
        """Delete in the background (dependents follow); False if it was already gone."""
        try:
            self._wrote()
            await self._client.delete(
                _resource(ref.kind),
                ref.name,
                namespace=ref.namespace,
                cascade=CascadeType.BACKGROUND,
            )
        except ApiError as error:
            if status_code(error) == 404:
                return False
            raise
        finally:
            self._written.pop(ref, None)
        return True

    async def watch(self, kind: str, namespace: str | None) -> AsyncIterator[tuple[str, Obj]]:
        """(ADDED/MODIFIED/DELETED, object) for every change of `kind` in `namespace`."""
        async for change, obj in self._client.watch(_resource(kind), namespace=namespace):
            yield change, _dict(obj)

    async def patch_portal_status(self, name: str, status: Obj) -> None:
        self._wrote()
        await self._client.patch(
            _resource(c.KIND).Status,
            name,
            {"status": status},
            patch_type=PatchType.MERGE,
            field_manager=c.FIELD_MANAGER,
        )

    async def post_event(
        self, portal: Obj, kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        """An Event on the Portal (`kubectl describe portal` shows it). Events of cluster-scoped
        objects live in the default namespace. A failure to post is only logged by the caller:
        an Event is a notice, never a reason to fail a pass."""
        meta = portal.get("metadata") or {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{meta.get('name')}.",
                "namespace": c.EVENT_NAMESPACE,
            },
            "involvedObject": {
                "apiVersion": c.API_VERSION,
                "kind": c.KIND,
                "name": meta.get("name"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": kind,
            "reason": reason,
            "message": message[:1000],
            "source": {"component": c.EVENT_SOURCE},
            "reportingComponent": c.EVENT_SOURCE,
            "reportingInstance": c.EVENT_SOURCE,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self._wrote()
        await self._client.create(_resource("Event")(body))
