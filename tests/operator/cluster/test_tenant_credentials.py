"""Per-tenant S3 identities. With `storage.s3.identity: iam` (the default) the operator keeps
the admin key of the credentials Secret to itself and gives every tenant's pods their own
identity, allowed only on that tenant's bucket (made through SeaweedFS's IAM API): one
tenant's keys cannot list, read, write or delete another tenant's bucket, the admin keys
never reach a tenant namespace, a rotation gives a new key and the old one stops working,
deletion removes the identity. `identity: static` is the documented fallback: a credentials
Secret county IT made for that tenant only, copied as it is."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from botocore.exceptions import ClientError

from tests.operator.cluster.portals import s3_portal, wait_condition
from tests.support.cluster import OPERATOR_NAMESPACE
from tests.support.kubeapi import Api, Obj, condition, wait_for
from tests.support.operator import OperatorProcess
from tests.support.seaweed import OTHER_TENANT_BUCKET, S3Credentials, SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.s3]

KEPT = "sandbach"  # deletionPolicy Retain
SHREDDED = "rohrheim"  # deletionPolicy Delete
STATIC = "lorsch"  # identity: static, its Secret holds the identity allowed only on other-tenant


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
    kept = s3_portal(KEPT, credentials, app={"replicas": 1})
    shredded = s3_portal(SHREDDED, credentials, app={"replicas": 1})
    shredded["spec"]["storage"]["deletionPolicy"] = "Delete"
    api.apply(kept)
    api.apply(shredded)
    try:
        yield {
            KEPT: wait_condition(api, operator, KEPT, "Ready", timeout=90),
            SHREDDED: wait_condition(api, operator, SHREDDED, "Ready", timeout=90),
        }
    finally:
        _gone(api, KEPT)
        _gone(api, SHREDDED)
        admin = credentials.client()
        for bucket in admin.list_buckets().get("Buckets", []):
            if bucket["Name"].startswith(f"dokportal-{KEPT}-"):
                for item in admin.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
                    admin.delete_object(Bucket=bucket["Name"], Key=item["Key"])
                admin.delete_bucket(Bucket=bucket["Name"])


def _copied(api: Api, name: str) -> S3Credentials:
    secret = api.get("Secret", "portal-s3", f"portal-{name}")
    assert secret is not None
    data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    return S3Credentials(data["access-key"], data["secret-key"])


def _refused(attempt: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as refused:
        attempt()
    return str(refused.value.response["Error"]["Code"])


def _works_on_own_bucket(seaweed: SeaweedS3, keys: S3Credentials, bucket: str) -> None:
    mine = seaweed.client(keys)
    mine.put_object(Bucket=bucket, Key="blobs/mine", Body=b"x")
    assert mine.get_object(Bucket=bucket, Key="blobs/mine")["Body"].read() == b"x"
    listed = [item["Key"] for item in mine.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "blobs/mine" in listed
    mine.delete_object(Bucket=bucket, Key="blobs/mine")
    assert mine.list_objects_v2(Bucket=bucket, Prefix="blobs/mine").get("KeyCount") == 0


def _trespass(seaweed: SeaweedS3, keys: S3Credentials, theirs: str, me: str) -> dict[str, str]:
    """What the S3 server answers to each attempt on another tenant's bucket."""
    mine = seaweed.client(keys)
    attempts: dict[str, Callable[[], object]] = {
        "list": lambda: mine.list_objects_v2(Bucket=theirs),
        "read": lambda: mine.get_object(Bucket=theirs, Key="blobs/their-document"),
        "write": lambda: mine.put_object(Bucket=theirs, Key="blobs/planted", Body=b"y"),
        "delete": lambda: mine.delete_object(Bucket=theirs, Key="blobs/their-document"),
        "delete bucket": lambda: mine.delete_bucket(Bucket=theirs),
        "create bucket": lambda: mine.create_bucket(Bucket=f"{me}-planted"),
    }
    return {what: _refused(attempt) for what, attempt in attempts.items()}


def test_each_tenant_holds_its_own_identity_never_the_admin_keys(
    api: Api, tenants: dict[str, Obj], credentials: SeaweedS3
) -> None:
    seen = set()
    for name, portal in tenants.items():
        copied = _copied(api, name)
        identity = portal["status"]["s3Identity"]
        assert identity["provider"] == "iam"
        assert identity["name"].startswith(f"dokportal-{name}-")
        assert identity["accessKeyId"] == copied.access_key
        assert copied.access_key != credentials.access_key
        seen.add(copied.access_key)
        # No Secret in the tenant namespace holds any part of the admin credential.
        for secret in api.list("Secret", f"portal-{name}"):
            for value in (secret.get("data") or {}).values():
                text = base64.b64decode(value).decode(errors="replace")
                assert credentials.access_key not in text, secret["metadata"]["name"]
                assert credentials.secret_key not in text, secret["metadata"]["name"]
    assert len(seen) == 2


def test_a_tenants_keys_cannot_touch_another_tenants_bucket(
    api: Api, tenants: dict[str, Obj], credentials: SeaweedS3
) -> None:
    admin = credentials.client()
    for me, them in ((KEPT, SHREDDED), (SHREDDED, KEPT)):
        keys = _copied(api, me)
        _works_on_own_bucket(credentials, keys, tenants[me]["status"]["bucket"])
        theirs = tenants[them]["status"]["bucket"]
        admin.put_object(Bucket=theirs, Key="blobs/their-document", Body=b"cipher")
        for what, code in _trespass(credentials, keys, theirs, me).items():
            assert code == "AccessDenied", what
        kept = admin.get_object(Bucket=theirs, Key="blobs/their-document")
        assert kept["Body"].read() == b"cipher"
        keys_there = [item["Key"] for item in admin.list_objects_v2(Bucket=theirs)["Contents"]]
        assert "blobs/planted" not in keys_there
        admin.delete_object(Bucket=theirs, Key="blobs/their-document")


def test_rotation_gives_a_new_key_and_the_old_stops_working(
    api: Api, operator: OperatorProcess, tenants: dict[str, Obj], credentials: SeaweedS3
) -> None:
    old = _copied(api, KEPT)
    bucket = tenants[KEPT]["status"]["bucket"]
    template = api.get("Deployment", "portal", f"portal-{KEPT}")
    assert template is not None
    checksum = template["spec"]["template"]["metadata"]["annotations"][
        "dokportal.dev/credentials-checksum"
    ]
    api.patch("Portal", KEPT, {"metadata": {"annotations": {"dokportal.dev/rotate-s3-key": "1"}}})

    def rotated() -> Obj | None:
        portal = api.get("Portal", KEPT) or {}
        identity = (portal.get("status") or {}).get("s3Identity") or {}
        done = identity.get("rotation") == "1" and not identity.get("retiring")
        return portal if done and identity.get("accessKeyId") != old.access_key else None

    try:
        portal = wait_for("the S3 key to be rotated and the old one retired", rotated, 90)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{operator.log_tail()}") from None
    new = _copied(api, KEPT)
    assert new.access_key == portal["status"]["s3Identity"]["accessKeyId"] != old.access_key
    assert new.access_key != credentials.access_key
    rolled = api.get("Deployment", "portal", f"portal-{KEPT}")
    assert rolled is not None
    assert (
        rolled["spec"]["template"]["metadata"]["annotations"]["dokportal.dev/credentials-checksum"]
        != checksum
    )
    _works_on_own_bucket(credentials, new, bucket)
    assert _refused(lambda: credentials.client(old).list_objects_v2(Bucket=bucket)) == (
        "InvalidAccessKeyId"
    )
    wait_condition(api, operator, KEPT, "Ready")


def test_static_identity_copies_the_tenants_own_key(
    api: Api, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    admin = credentials.client()
    if OTHER_TENANT_BUCKET not in [b["Name"] for b in admin.list_buckets().get("Buckets", [])]:
        admin.create_bucket(Bucket=OTHER_TENANT_BUCKET)
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{STATIC}-s3", "namespace": OPERATOR_NAMESPACE},
            "stringData": {
                "access-key": credentials.other.access_key,
                "secret-key": credentials.other.secret_key,
            },
        }
    )
    portal = s3_portal(STATIC, credentials, app={"replicas": 1})
    portal["spec"]["storage"]["s3"].update(
        bucket=OTHER_TENANT_BUCKET, identity="static", credentialsSecret={"name": f"{STATIC}-s3"}
    )
    api.apply(portal)
    try:
        ready = wait_condition(api, operator, STATIC, "Ready", timeout=90)
        assert "s3Identity" not in ready["status"]
        assert _copied(api, STATIC) == credentials.other
    finally:
        _gone(api, STATIC)
        api.delete("Secret", f"{STATIC}-s3", OPERATOR_NAMESPACE)
        for item in admin.list_objects_v2(Bucket=OTHER_TENANT_BUCKET).get("Contents", []):
            admin.delete_object(Bucket=OTHER_TENANT_BUCKET, Key=item["Key"])


def test_without_iam_rights_the_portal_is_stalled_and_gets_no_keys(
    api: Api, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    """The named credential works on the bucket but may not manage identities (SeaweedFS's
    identity limited to other-tenant): the operator does not fall back to handing it over."""
    admin = credentials.client()
    if OTHER_TENANT_BUCKET not in [b["Name"] for b in admin.list_buckets().get("Buckets", [])]:
        admin.create_bucket(Bucket=OTHER_TENANT_BUCKET)
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{STATIC}-s3", "namespace": OPERATOR_NAMESPACE},
            "stringData": {
                "access-key": credentials.other.access_key,
                "secret-key": credentials.other.secret_key,
            },
        }
    )
    portal = s3_portal(STATIC, credentials, app={"replicas": 1})
    portal["spec"]["storage"]["s3"].update(
        bucket=OTHER_TENANT_BUCKET, credentialsSecret={"name": f"{STATIC}-s3"}
    )
    api.apply(portal)
    try:
        stalled = wait_condition(
            api, operator, STATIC, "StorageReady", "False", "IdentityUnsupported", timeout=90
        )
        assert condition(stalled, "Stalled")["status"] == "True"
        assert "identity: static" in condition(stalled, "StorageReady")["message"]
        assert credentials.other.secret_key not in json.dumps(stalled)
        assert api.get("Secret", "portal-s3", f"portal-{STATIC}") is None
        assert api.get("Deployment", "portal", f"portal-{STATIC}") is None
    finally:
        _gone(api, STATIC)
        api.delete("Secret", f"{STATIC}-s3", OPERATOR_NAMESPACE)
        for item in admin.list_objects_v2(Bucket=OTHER_TENANT_BUCKET).get("Contents", []):
            admin.delete_object(Bucket=OTHER_TENANT_BUCKET, Key=item["Key"])


def test_deletion_removes_the_identity_with_either_policy(
    api: Api, tenants: dict[str, Obj], credentials: SeaweedS3
) -> None:
    """Last in this module: both Portals go. Retain keeps bucket and data, Delete removes the
    bucket; with both the tenant's key stops working."""
    admin = credentials.client()
    kept_bucket = tenants[KEPT]["status"]["bucket"]
    admin.put_object(Bucket=kept_bucket, Key="blobs/kept-document", Body=b"cipher")
    keys = {name: _copied(api, name) for name in (KEPT, SHREDDED)}
    for name in (KEPT, SHREDDED):
        _gone(api, name)
        bucket = tenants[name]["status"]["bucket"]
        listing = partial(credentials.client(keys[name]).list_objects_v2, Bucket=bucket)
        code = _refused(listing)
        assert code == "InvalidAccessKeyId", name
    body = admin.get_object(Bucket=kept_bucket, Key="blobs/kept-document")["Body"].read()
    assert body == b"cipher"
    names = [bucket["Name"] for bucket in admin.list_buckets().get("Buckets", [])]
    assert tenants[SHREDDED]["status"]["bucket"] not in names
