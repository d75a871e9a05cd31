"""An operator killed in the middle of creating a tenant converges without duplicates; a
Portal deleted with Retain keeps its bucket and its keyring."""

from __future__ import annotations

import base64
import json

import pytest

from tests.operator.cluster.portals import buckets, keyring, s3_portal, wait_condition
from tests.support.cluster import OPERATOR_NAMESPACE
from tests.support.kubeapi import Api, wait_for
from tests.support.operator import OperatorProcess
from tests.support.seaweed import SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.s3]

NAME = "buerstadt"
NS = f"portal-{NAME}"


def test_restart_mid_creation_converges_without_duplicates_then_retain(
    api: Api, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    api.apply(s3_portal(NAME, credentials, app={"replicas": 1}))
    # Kill the operator as soon as it has started on the tenant (namespace made, rest pending).
    wait_for("the tenant namespace", lambda: api.get("Namespace", NS), timeout=60)
    operator.restart()
    ready = wait_condition(api, operator, NAME, "Ready", timeout=90)

    assert len(api.list("Secret", NS, {"dokportal.dev/part": "keys"})) == 2  # keyring, session
    ring = keyring(api, NS)
    assert list(ring["keys"]) == [ring["primary"]] == [ready["status"]["primaryKeyId"]]
    assert buckets(credentials, f"dokportal-{NAME}-") == [ready["status"]["bucket"]]
    assert [d["metadata"]["name"] for d in api.list("Deployment", NS)] == ["portal"]
    assert len(api.list("ReplicaSet", NS)) == 1
    assert len(api.list("Job", NS)) == 1
    assert len([p for p in api.list("Pod", NS) if "migrate" not in p["metadata"]["name"]]) == 1

    bucket = ready["status"]["bucket"]
    credentials.client().put_object(Bucket=bucket, Key="blobs/kept", Body=b"cipher")
    api.delete("Portal", NAME)
    wait_for("the Portal to be gone", lambda: api.get("Portal", NAME) is None, timeout=60)
    # The namespace goes with the Portal (its owner reference; the garbage collector).
    wait_for(
        "the namespace to go",
        lambda: (ns := api.get("Namespace", NS)) is None or ns["metadata"].get("deletionTimestamp"),
    )
    # The bucket and its documents stay ...
    assert buckets(credentials, bucket) == [bucket]
    kept = credentials.client().get_object(Bucket=bucket, Key="blobs/kept")["Body"].read()
    assert kept == b"cipher"
    # ... and so does the key to read them, next to the operator.
    retained = api.list("Secret", OPERATOR_NAMESPACE, {"dokportal.dev/retained-from": NAME})
    assert len(retained) == 1
    assert json.loads(base64.b64decode(retained[0]["data"]["keyring.json"])) == ring
    assert retained[0]["metadata"]["annotations"]["dokportal.dev/bucket"] == bucket
    assert not retained[0]["metadata"].get("ownerReferences")
