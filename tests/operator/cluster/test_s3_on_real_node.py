"""A Portal with S3 (SeaweedFS) and PostgreSQL through the operator, its pods on the real
node: the customer's document lands encrypted in the tenant's bucket; then a key rotation
really runs (pods roll, the rewrap Job runs on the node, the old key goes) and every earlier
document and the staff sign-in still work.

The pods reach SeaweedFS and PostgreSQL, which listen on this machine's loopback, through
TCP links on the bridge address (10.213.0.1): traffic stays on this machine.
"""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from tests.operator.cluster.portals import buckets, keyring, wait_condition
from tests.realnode.helpers import (
    CODE_RE,
    MARKER,
    apply,
    customer_journey,
    get,
    ready_pod,
    run_like_migration,
    staff_enrol,
    staff_sign_in,
)
from tests.support.cluster import OPERATOR_NAMESPACE
from tests.support.kubeapi import Api, wait_for
from tests.support.operator import OperatorProcess
from tests.support.realnode import NODE_IP, NODE_NAME, RealNode
from tests.support.seaweed import SeaweedS3
from tests.support.tcp_link import tcp_link

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.postgres]

NAME, NAMESPACE = "reals3", "portal-reals3"
STAFF_PASSWORD = "Kaffeepause-am-Montag-2026"


async def _create_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@pytest.mark.timeout(900)
def test_s3_postgresql_portal_on_the_real_node_and_its_key_rotation(
    api: Api,
    operator: OperatorProcess,
    real_node: RealNode,
    credentials: SeaweedS3,
    postgres_url: str,
) -> None:
    asyncio.run(_create_database(postgres_url, "reals3"))
    pg = urlsplit(postgres_url)
    s3 = urlsplit(credentials.endpoint_url)
    assert pg.hostname and pg.port and s3.hostname and s3.port
    with (
        tcp_link((pg.hostname, pg.port), listen=NODE_IP) as pg_link,
        tcp_link((s3.hostname, s3.port), listen=NODE_IP) as s3_link,
    ):
        database = pg._replace(netloc=f"{pg.username}:{pg.password}@{NODE_IP}:{pg_link.port}")
        apply(
            real_node,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "reals3-database", "namespace": OPERATOR_NAMESPACE},
                "stringData": {"url": database._replace(path="/reals3").geturl()},
            },
        )
        api.apply(
            {
                "apiVersion": "dokportal.dev/v1alpha1",
                "kind": "Portal",
                "metadata": {"name": NAME},
                "spec": {
                    "tenant": {
                        "displayName": "Jobcenter Bergstraße, Heppenheim",
                        "referencePrefix": "HP",
                    },
                    "hostname": "reals3.dokportal.example.org",
                    "storage": {
                        "s3": {
                            "endpoint": s3_link.url,
                            "credentialsSecret": {"name": "s3-credentials"},
                        },
                        "deletionPolicy": "Delete",
                    },
                    "database": {"postgresql": {"connectionSecret": {"name": "reals3-database"}}},
                    "app": {"imagePullPolicy": "Never", **real_node.portal_placement()},
                    "ingress": {"allowPlainHTTP": True},  # a test system without certificates
                },
            }
        )
        try:
            _journey_rotation_and_sign_in(api, operator, real_node, credentials)
        finally:
            api.delete("Portal", NAME)
            wait_for("the Portal to go", lambda: api.get("Portal", NAME) is None, timeout=120)


def _journey_rotation_and_sign_in(
    api: Api, operator: OperatorProcess, node: RealNode, seaweed: SeaweedS3
) -> None:
    wait_condition(api, operator, NAME, "Ready", timeout=300)
    pod = ready_pod(node, NAMESPACE, "app.kubernetes.io/component=web")
    url = f"http://{pod['status']['podIP']}:8000"
    created = run_like_migration(
        node,
        NAMESPACE,
        "customer",
        ["customer", "create", "--number", "123D000044", "--name", "Emmy Noether"],
    )
    code = CODE_RE.search(created)
    assert code, created
    reference = customer_journey(url, "123D000044", code.group(0))
    assert reference.startswith("HP-")
    (bucket,) = buckets(seaweed, f"dokportal-{NAME}-")
    client = seaweed.client()
    objects = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert objects
    stored = [client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in objects]
    assert all(MARKER not in body for body in stored)

    run_like_migration(
        node,
        NAMESPACE,
        "staff",
        [
            "staff",
            "create",
            "--username",
            "sachbearbeitung",
            "--name",
            "Sachbearbeitung",
            "--role",
            "admin",
            "--password",
            STAFF_PASSWORD,
        ],
    )
    secret = staff_enrol(url, "sachbearbeitung", STAFF_PASSWORD)
    token = run_like_migration(
        node, NAMESPACE, "token", ["token", "create", "--name", "dms", "--scope", "read"]
    )
    api_token = token.strip().splitlines()[-1]
    before = _file(url, api_token, reference)

    # Rotation: a new primary, pods roll to it, the rewrap Job really runs here, the old
    # key goes.
    old = keyring(api, NAMESPACE)
    api.patch(
        "Portal", NAME, {"metadata": {"annotations": {"dokportal.dev/rotate-keys": "real-1"}}}
    )
    rotated = wait_for(
        "a new primary key",
        lambda: (r := keyring(api, NAMESPACE))["primary"] != old["primary"] and r,
        timeout=120,
    )
    rewrap = wait_for(
        "the rewrap Job's pod to succeed on the real node",
        lambda: [
            p
            for p in get(node, "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=rewrap")[
                "items"
            ]
            if p["status"].get("phase") == "Succeeded"
        ],
        timeout=240,
    )
    assert rewrap[0]["spec"]["nodeName"] == NODE_NAME
    assert "rewrapped" in node.pod_log(NAMESPACE, rewrap[0]["metadata"]["name"])
    wait_for(
        "the old key to retire",
        lambda: list(keyring(api, NAMESPACE)["keys"]) == [rotated["primary"]],
        timeout=240,
    )
    wait_condition(api, operator, NAME, "Ready", timeout=240)
    rolled = ready_pod(node, NAMESPACE, "app.kubernetes.io/component=web")
    assert rolled["metadata"]["name"] != pod["metadata"]["name"]
    assert rolled["metadata"]["annotations"]["dokportal.dev/keyring-primary"] == rotated["primary"]

    # Earlier documents and the staff sign-in (its TOTP secret is wrapped too) still work.
    url = f"http://{rolled['status']['podIP']}:8000"
    assert _file(url, api_token, reference) == before
    staff_sign_in(url, "sachbearbeitung", STAFF_PASSWORD, secret, ahead=1)


def _file(url: str, token: str, reference: str) -> bytes:
    """The first file of a submission through the export API (decrypted by the pod)."""
    answer = httpx.get(
        f"{url}/api/v1/submissions/{reference}/files/0",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text[-500:]
    assert MARKER in answer.content
    assert hashlib.sha256(answer.content).hexdigest() == answer.headers["X-Content-SHA256"]
    return answer.content
