"""The documented fallback for per-tenant S3 identities: county IT gives each tenant its own
credentials Secret, scoped on the S3 side to the tenant's bucket. The operator copies only that
tenant's credentials into its namespace, so with one tenant's copy nothing of another tenant's
bucket can be listed, read, written or deleted. (Identities made by the operator itself through
an IAM API are not built yet; see docs/operator.md.)"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError

from tests.operator.cluster.portals import s3_portal, wait_condition
from tests.support.cluster import OPERATOR_NAMESPACE
from tests.support.kubeapi import Api, Obj, wait_for
from tests.support.operator import OperatorProcess
from tests.support.seaweed import OTHER_TENANT_BUCKET, S3Credentials, SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.s3]

SCOPED = "sandbach"  # its Secret holds SeaweedFS's identity allowed only on other-tenant
NEIGHBOUR = "rohrheim"


def _gone(api: Api, name: str) -> None:
    if api.get("Portal", name):
        api.delete("Portal", name)
    wait_for(f"Portal {name} to go", lambda: api.get("Portal", name) is None, timeout=60)
    for secret in api.list("Secret", OPERATOR_NAMESPACE, {"dokportal.dev/retained-from": name}):
        api.delete("Secret", secret["metadata"]["name"], OPERATOR_NAMESPACE)


@pytest.fixture(scope="module")
def tenants(
    api: Api, operator: OperatorProcess, credentials: SeaweedS3
) -> Iterator[dict[str, Obj]]:
    admin = credentials.client()
    if OTHER_TENANT_BUCKET not in [b["Name"] for b in admin.list_buckets().get("Buckets", [])]:
        admin.create_bucket(Bucket=OTHER_TENANT_BUCKET)
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{SCOPED}-s3", "namespace": OPERATOR_NAMESPACE},
            "stringData": {
                "access-key": credentials.other.access_key,
                "secret-key": credentials.other.secret_key,
            },
        }
    )
    scoped = s3_portal(SCOPED, credentials, app={"replicas": 1})
    scoped["spec"]["storage"]["s3"]["bucket"] = OTHER_TENANT_BUCKET
    scoped["spec"]["storage"]["s3"]["credentialsSecret"] = {"name": f"{SCOPED}-s3"}
    api.apply(scoped)
    neighbour = s3_portal(NEIGHBOUR, credentials, app={"replicas": 1})
    neighbour["spec"]["storage"]["deletionPolicy"] = "Delete"
    api.apply(neighbour)
    try:
        yield {
            SCOPED: wait_condition(api, operator, SCOPED, "Ready", timeout=90),
            NEIGHBOUR: wait_condition(api, operator, NEIGHBOUR, "Ready", timeout=90),
        }
    finally:
        _gone(api, SCOPED)
        _gone(api, NEIGHBOUR)
        api.delete("Secret", f"{SCOPED}-s3", OPERATOR_NAMESPACE)
        for item in admin.list_objects_v2(Bucket=OTHER_TENANT_BUCKET).get("Contents", []):
            admin.delete_object(Bucket=OTHER_TENANT_BUCKET, Key=item["Key"])


def _copied(api: Api, name: str) -> S3Credentials:
    secret = api.get("Secret", "portal-s3", f"portal-{name}")
    assert secret is not None
    data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    return S3Credentials(data["access-key"], data["secret-key"])


def test_a_tenants_copy_cannot_touch_another_tenants_bucket(
    api: Api, tenants: dict[str, Obj], credentials: SeaweedS3
) -> None:
    mine = credentials.client(_copied(api, SCOPED))
    theirs = tenants[NEIGHBOUR]["status"]["bucket"]
    credentials.client().put_object(Bucket=theirs, Key="blobs/their-document", Body=b"cipher")
    # Its own bucket works (the operator proved it, and so do we).
    mine.put_object(Bucket=OTHER_TENANT_BUCKET, Key="blobs/mine", Body=b"x")
    assert mine.get_object(Bucket=OTHER_TENANT_BUCKET, Key="blobs/mine")["Body"].read() == b"x"
    attempts: dict[str, Callable[[], object]] = {
        "list": lambda: mine.list_objects_v2(Bucket=theirs),
        "read": lambda: mine.get_object(Bucket=theirs, Key="blobs/their-document"),
        "write": lambda: mine.put_object(Bucket=theirs, Key="blobs/planted", Body=b"y"),
        "delete": lambda: mine.delete_object(Bucket=theirs, Key="blobs/their-document"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDenied", what
    kept = credentials.client().get_object(Bucket=theirs, Key="blobs/their-document")
    assert kept["Body"].read() == b"cipher"
    keys = [item["Key"] for item in credentials.client().list_objects_v2(Bucket=theirs)["Contents"]]
    assert "blobs/planted" not in keys
