"""Portals in the built-in roles: `view` may read them (the operator chart aggregates a role
into it), `edit` may change them; neither is granted more."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import OPERATOR_NAMESPACE, OPERATOR_USER, Cluster
from tests.support.kubeapi import Api, wait_for
from tests.support.operator import OperatorProcess

pytestmark = pytest.mark.cluster

BINDINGS = {"county-viewer": "view", "county-editor": "edit"}


def _can(cluster: Cluster, user: str, verb: str, resource: str, *scope: str) -> bool:
    answer = cluster.kubectl("auth", "can-i", verb, resource, "--as", user, *scope, check=False)
    return answer.strip() == "yes"


@pytest.fixture(scope="module")
def people(api: Api, installed: Cluster) -> Iterator[Cluster]:
    for user, role in BINDINGS.items():
        api.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"test-{user}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            }
        )
    yield installed
    for user in BINDINGS:
        api.delete("ClusterRoleBinding", f"test-{user}")


def test_the_operator_namespace_is_pod_security_restricted(
    api: Api, operator: OperatorProcess
) -> None:
    namespace = wait_for(
        "the operator to label its namespace",
        lambda: (
            found
            if (found := api.get("Namespace", OPERATOR_NAMESPACE))
            and (found["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce")
            else None
        ),
    )
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


@pytest.mark.parametrize(
    "request_",
    [
        ("get", "secrets", "-n", "kube-system"),
        ("delete", "secrets", "-n", "kube-system"),
        ("create", "secrets", "-n", "default"),
        ("patch", "deployments", "-n", "kube-system"),
        ("delete", "deployments", "-n", "kube-system"),
        ("delete", "namespaces", "kube-system"),
        ("delete", "namespaces"),
        ("create", "clusterrolebindings"),
        ("create", "pods", "-n", "kube-system"),
    ],
    ids=lambda request: " ".join(request),
)
def test_the_operator_cannot_touch_what_it_does_not_own(
    installed: Cluster, request_: tuple[str, ...]
) -> None:
    verb, resource, *scope = request_
    assert not _can(installed, OPERATOR_USER, verb, resource, *scope)


def test_view_reads_portals_and_edit_changes_them(people: Cluster) -> None:
    # The controller-manager aggregates the chart's roles into view/edit: look until it has.
    wait_for(
        "view to include Portals",
        lambda: _can(people, "county-viewer", "list", "portals.dokportal.dev"),
    )
    assert _can(people, "county-viewer", "get", "portals.dokportal.dev", "--subresource=status")
    assert not _can(people, "county-viewer", "delete", "portals.dokportal.dev")
    assert not _can(people, "county-viewer", "patch", "portals.dokportal.dev")
    wait_for(
        "edit to include Portals",
        lambda: _can(people, "county-editor", "create", "portals.dokportal.dev"),
    )
    assert _can(people, "county-editor", "delete", "portals.dokportal.dev")
    assert not _can(
        people, "county-editor", "patch", "portals.dokportal.dev", "--subresource=status"
    )
