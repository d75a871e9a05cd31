"""Portals through the operator whose pods really run, on the real node
(tests/support/realnode.py): the migration Job really migrates, the readiness probe really
passes, and a customer is served over HTTP by the pod.

kwok would mark the same pods Ready without starting them; a Portal with `storage: volume`
once stayed RollingOut for ever on a real kubelet (the blob folder on a fresh volume).
"""

from __future__ import annotations

import pytest

from tests.operator.cluster.portals import wait_condition
from tests.realnode.helpers import (
    CODE_RE,
    MARKER,
    apply,
    customer_journey,
    local_volume,
    ready_pod,
    run_like_migration,
)
from tests.support.kubeapi import Api
from tests.support.operator import OperatorProcess
from tests.support.realnode import RealNode

pytestmark = pytest.mark.cluster


@pytest.mark.timeout(600)
def test_volume_portal_with_sqlite_serves_a_customer_on_the_real_node(
    api: Api, operator: OperatorProcess, real_node: RealNode
) -> None:
    name, namespace = "realvol", "portal-realvol"
    # The Portal's pods are sent to the real node by spec.app.nodeSelector/tolerations (the
    # operator makes the namespace itself and refuses one that exists); the volume is
    # pre-bound to the claim the operator makes (no provisioner here).
    apply(real_node, local_volume(real_node, namespace, "portal-data", "portal-realvol-data"))
    api.apply(
        {
            "apiVersion": "dokportal.dev/v1alpha1",
            "kind": "Portal",
            "metadata": {"name": name},
            "spec": {
                "tenant": {
                    "displayName": "Jobcenter Bergstraße, Mörlenbach",
                    "referencePrefix": "MB",
                },
                "hostname": "realvol.dokportal.example.org",
                "storage": {"volume": {"size": "1Gi"}, "deletionPolicy": "Delete"},
                "database": {"sqlite": {}},
                "app": {"imagePullPolicy": "Never", **real_node.portal_placement()},
                "ingress": {"allowPlainHTTP": True},  # a test system without certificates
            },
        }
    )
    try:
        wait_condition(api, operator, name, "Ready", timeout=300)
        pod = ready_pod(real_node, namespace, "app.kubernetes.io/component=web")
        created = run_like_migration(
            real_node,
            namespace,
            "customer",
            ["customer", "create", "--number", "123D000043", "--name", "Grace Hopper"],
        )
        code = CODE_RE.search(created)
        assert code, created
        receipt = customer_journey(
            f"http://{pod['status']['podIP']}:8000", "123D000043", code.group(0)
        )
        assert receipt.startswith("MB-")
        volume = real_node.directory / "volumes" / "portal-realvol-data"
        blobs = [p for p in (volume / "blobs").rglob("*") if p.is_file()]
        assert blobs and all(MARKER not in p.read_bytes() for p in blobs)
        assert (volume / "dokportal.sqlite3").stat().st_uid == 10001
    finally:
        api.delete("Portal", name)
