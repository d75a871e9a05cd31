"""charts/portal alone on the real node: `helm install --wait` with existing Secrets and a
pre-bound local volume; the migration hook, the claim it mounts and the Deployment in the
right order; then a customer's journey over HTTP to the pod."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.realnode.helpers import (
    CODE_RE,
    MARKER,
    apply,
    customer_journey,
    local_volume,
    ready_pod,
    run_like_migration,
    secrets,
)
from tests.support.cluster import REPO
from tests.support.images import PROBE, assert_confined
from tests.support.realnode import RealNode

NAMESPACE = "chart-on-node"
RELEASE = "amt"

pytestmark = pytest.mark.cluster


@pytest.mark.timeout(600)
def test_helm_install_wait_serves_a_customer_from_the_volume(
    real_node: RealNode, tmp_path: Path
) -> None:
    real_node.create_namespace(NAMESPACE)
    volume = local_volume(real_node, NAMESPACE, f"{RELEASE}-data", "chart-on-node-data")
    apply(real_node, *secrets(NAMESPACE, tmp_path), volume)
    real_node.cluster.helm(
        "install",
        RELEASE,
        str(REPO / "charts" / "portal"),
        "--namespace",
        NAMESPACE,
        "--wait",
        "--timeout=5m",
        "--set=image.pullPolicy=Never",
        "--set=ingress.enabled=false",
        "--set=persistence.size=1Gi",
        "--set=publicBaseUrl=http://portal.test",
    )
    pod = ready_pod(
        real_node, NAMESPACE, "app.kubernetes.io/instance=amt,app.kubernetes.io/component=web"
    )
    context = pod["spec"]["securityContext"]
    assert context["runAsUser"] == 10001 and context["fsGroup"] == 10001

    created = run_like_migration(
        real_node,
        NAMESPACE,
        "customer",
        ["customer", "create", "--number", "123D000042", "--name", "Ada Lovelace"],
    )
    code = CODE_RE.search(created)
    assert code, created
    receipt = customer_journey(f"http://{pod['status']['podIP']}:8000", "123D000042", code.group(0))
    assert receipt.startswith("BG-")
    blobs = [
        p
        for p in (real_node.directory / "volumes" / "chart-on-node-data" / "blobs").rglob("*")
        if p.is_file()
    ]
    assert blobs and all(MARKER not in p.read_bytes() for p in blobs)
    assert all(p.stat().st_uid == 10001 for p in blobs)

    # The pod as the chart runs it: uid 10001, no capabilities, read-only root, limits; the
    # image's default paths (no settings at all) all inside /data or /tmp.
    spec = pod["spec"]["containers"][0]
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert spec["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    output = run_like_migration(
        real_node, NAMESPACE, "probe", [], command=["python", "-c", PROBE], bare=True
    )
    assert_confined(json.loads(output.strip().splitlines()[-1]))
