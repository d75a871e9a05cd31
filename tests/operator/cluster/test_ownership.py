"""Nothing that held data is remade silently, and a Portal touches only what it made: a keyring
Secret deleted behind the operator, a bucket deleted on the S3 side, a namespace that existed
before the Portal. Each is Stalled with a reason that says what to do, and the documented way
back (spec.encryption.restoreFrom, the accept-bucket-loss annotation) works.

The tests share the Portal "lorsch" and run top to bottom.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.operator.cluster.portals import (
    buckets,
    events,
    keyring,
    poke,
    s3_portal,
    wait_condition,
)
from tests.support.cluster import OPERATOR_NAMESPACE, OPERATOR_USER, Cluster
from tests.support.kubeapi import Api, Obj, condition, wait_for
from tests.support.operator import OperatorProcess
from tests.support.seaweed import SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.s3]

NAME = "lorsch"
NS = f"portal-{NAME}"


@pytest.fixture(scope="module")
def portal(api: Api, operator: OperatorProcess, credentials: SeaweedS3) -> Iterator[Obj]:
    api.apply(s3_portal(NAME, credentials, app={"replicas": 1}))
    yield wait_condition(api, operator, NAME, "Ready", timeout=90)
    if api.get("Portal", NAME):
        api.delete("Portal", NAME)
        wait_for("the Portal to go", lambda: api.get("Portal", NAME) is None, timeout=60)
    for secret in api.list("Secret", OPERATOR_NAMESPACE, {"dokportal.dev/retained-from": NAME}):
        api.delete("Secret", secret["metadata"]["name"], OPERATOR_NAMESPACE)


def test_the_operator_writes_in_the_tenant_namespace_through_its_binding(
    api: Api, portal: Obj, installed: Cluster
) -> None:
    binding = api.get("RoleBinding", "dokportal-operator", NS)
    assert binding is not None
    assert binding["roleRef"]["name"] == "dokportal-operator-tenant"
    assert binding["metadata"]["ownerReferences"][0]["name"] == NAME
    for verb, resource in (("create", "secrets"), ("delete", "deployments"), ("patch", "jobs")):
        answer = installed.kubectl(
            "auth", "can-i", verb, resource, "-n", NS, "--as", OPERATOR_USER, check=False
        )
        assert answer.strip() == "yes", (verb, resource)


def test_status_records_what_the_portal_made(api: Api, portal: Obj, credentials: SeaweedS3) -> None:
    owned = portal["status"]["owned"]
    namespace = api.get("Namespace", NS)
    assert namespace is not None
    assert owned["namespace"]["uid"] == namespace["metadata"]["uid"]
    ring = keyring(api, NS)
    assert owned["keyring"]["ids"] == ring["primary"]
    assert owned["keyring"]["fingerprint"].startswith("sha256:")
    assert ring["keys"][ring["primary"]] not in json.dumps(portal)
    bucket = owned["bucket"]
    assert bucket["name"] == portal["status"]["bucket"]
    assert bucket["endpoint"] == credentials.endpoint_url
    marker = json.loads(
        credentials.client()
        .get_object(Bucket=bucket["name"], Key=".dokportal-owner")["Body"]
        .read()
    )
    assert marker == {"portal": NAME, "uid": portal["metadata"]["uid"], "id": bucket["marker"]}


def test_deleted_keyring_stalls_and_is_put_back_from_restore_from(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    ring = keyring(api, NS)
    deployment = api.get("Deployment", "portal", NS)
    assert deployment is not None
    api.delete("Secret", "portal-keyring", NS)
    poke(api, NAME)  # Secrets in tenant namespaces are not watched; the resync would find it

    stalled = wait_condition(api, operator, NAME, "Stalled", "True", "KeyringMissing")
    message = condition(stalled, "Stalled")["message"]
    assert ring["primary"] in message and "spec.encryption.restoreFrom" in message
    assert condition(stalled, "Ready")["status"] == "False"
    assert condition(stalled, "KeysReady")["reason"] == "KeyringMissing"
    # Never a new keyring, and the pods are not rolled.
    assert api.get("Secret", "portal-keyring", NS) is None
    still = api.get("Deployment", "portal", NS)
    assert still is not None
    assert still["metadata"]["generation"] == deployment["metadata"]["generation"]
    warning = wait_for(
        "a KeyringMissing Event",
        lambda: [e for e in events(api, NAME) if e["reason"] == "KeyringMissing"],
    )
    assert warning[0]["type"] == "Warning"

    # The backup goes next to the operator; restoreFrom puts it back.
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{NAME}-keyring-backup", "namespace": OPERATOR_NAMESPACE},
            "stringData": {"keyring.json": json.dumps(ring)},
        }
    )
    try:
        api.patch(
            "Portal",
            NAME,
            {"spec": {"encryption": {"restoreFrom": {"name": f"{NAME}-keyring-backup"}}}},
        )
        wait_condition(api, operator, NAME, "Ready")
        assert keyring(api, NS) == ring
        after = api.get("Deployment", "portal", NS)
        assert after is not None
        assert after["metadata"]["generation"] == deployment["metadata"]["generation"]
        restored = api.get("Secret", "portal-keyring", NS)
        assert restored is not None
        assert restored["metadata"]["annotations"]["dokportal.dev/restored-from"] == (
            f"{OPERATOR_NAMESPACE}/{NAME}-keyring-backup"
        )
    finally:
        api.delete("Secret", f"{NAME}-keyring-backup", OPERATOR_NAMESPACE)


def test_a_backup_without_the_current_keys_is_refused(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    ring = keyring(api, NS)
    stale = {
        "primary": "k-20200101-aaaaaa",
        "keys": {"k-20200101-aaaaaa": ring["keys"][ring["primary"]]},
    }
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{NAME}-keyring-backup", "namespace": OPERATOR_NAMESPACE},
            "stringData": {"keyring.json": json.dumps(stale)},
        }
    )
    try:
        api.delete("Secret", "portal-keyring", NS)
        poke(api, NAME)
        stalled = wait_condition(api, operator, NAME, "Stalled", "True", "KeyringRestoreMismatch")
        assert ring["primary"] in condition(stalled, "Stalled")["message"]
        assert api.get("Secret", "portal-keyring", NS) is None
        # Re-creating the Secret itself from the backup is the other way back.
        api.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "portal-keyring", "namespace": NS},
                "stringData": {"keyring.json": json.dumps(ring)},
            }
        )
        poke(api, NAME)
        wait_condition(api, operator, NAME, "Ready")
        assert keyring(api, NS) == ring
    finally:
        api.delete("Secret", f"{NAME}-keyring-backup", OPERATOR_NAMESPACE)


def test_deleted_session_secret_is_not_regenerated_silently(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    before = api.get("Secret", "portal-session", NS)
    assert before is not None
    api.delete("Secret", "portal-session", NS)
    poke(api, NAME)
    stalled = wait_condition(api, operator, NAME, "Stalled", "True", "SessionSecretMissing")
    assert api.get("Secret", "portal-session", NS) is None
    fingerprint = stalled["status"]["owned"]["sessionSecret"]["fingerprint"]
    assert fingerprint in condition(stalled, "Stalled")["message"]
    api.patch(
        "Portal",
        NAME,
        {"metadata": {"annotations": {"dokportal.dev/regenerate-session-secret": fingerprint}}},
    )
    ready = wait_condition(api, operator, NAME, "Ready")
    after = api.get("Secret", "portal-session", NS)
    assert after is not None and after["data"] != before["data"]
    assert ready["status"]["owned"]["sessionSecret"]["fingerprint"] != fingerprint


def test_bucket_deleted_behind_the_operator_is_never_made_again_empty(
    api: Api, portal: Obj, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    status = (api.get("Portal", NAME) or {})["status"]
    bucket, marker = status["bucket"], status["owned"]["bucket"]["marker"]
    client = credentials.client()
    for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
    poke(api, NAME)

    stalled = wait_condition(api, operator, NAME, "Stalled", "True", "BucketLost")
    message = condition(stalled, "Stalled")["message"]
    assert f"dokportal.dev/accept-bucket-loss={marker}" in message
    assert buckets(credentials, bucket) == []
    assert stalled["status"]["owned"]["bucket"]["marker"] == marker

    # A person accepts the loss: a new empty bucket with a new marker.
    api.patch(
        "Portal", NAME, {"metadata": {"annotations": {"dokportal.dev/accept-bucket-loss": marker}}}
    )
    ready = wait_condition(api, operator, NAME, "Ready")
    assert buckets(credentials, bucket) == [bucket]
    assert ready["status"]["owned"]["bucket"]["marker"] not in ("", marker)


def test_an_emptied_bucket_that_lost_its_marker_is_lost(
    api: Api, portal: Obj, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    bucket = (api.get("Portal", NAME) or {})["status"]["bucket"]
    credentials.client().delete_object(Bucket=bucket, Key=".dokportal-owner")
    poke(api, NAME)
    stalled = wait_condition(api, operator, NAME, "Stalled", "True", "BucketLost")
    assert "lost its marker object" in condition(stalled, "Stalled")["message"]
    marker = stalled["status"]["owned"]["bucket"]["marker"]
    api.patch(
        "Portal", NAME, {"metadata": {"annotations": {"dokportal.dev/accept-bucket-loss": marker}}}
    )
    wait_condition(api, operator, NAME, "Ready")


def test_replicas_zero_reads_paused(api: Api, portal: Obj, operator: OperatorProcess) -> None:
    api.patch("Portal", NAME, {"spec": {"app": {"replicas": 0}}})
    paused = wait_condition(api, operator, NAME, "Ready", "False", "Paused")
    assert condition(paused, "Stalled")["status"] == "False"
    wait_for("a Paused Event", lambda: [e for e in events(api, NAME) if e["reason"] == "Paused"])
    api.patch("Portal", NAME, {"spec": {"app": {"replicas": 1}}})
    wait_condition(api, operator, NAME, "Ready")
    assert [e for e in events(api, NAME) if e["reason"] == "Ready"]


def test_a_spec_the_api_server_refuses_is_reported_for_this_generation(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    deployment = api.get("Deployment", "portal", NS)
    assert deployment is not None
    # Valid quantities, but requests above limits: the Deployment is refused.
    api.patch(
        "Portal",
        NAME,
        {"spec": {"app": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}}},
    )
    stalled = wait_condition(api, operator, NAME, "Stalled", "True", "ApplyRejected")
    assert condition(stalled, "Ready")["status"] == "False"
    assert condition(stalled, "Ready")["observedGeneration"] == stalled["metadata"]["generation"]
    still = api.get("Deployment", "portal", NS)
    assert still is not None
    assert still["metadata"]["generation"] == deployment["metadata"]["generation"]
    api.patch("Portal", NAME, {"spec": {"app": {"resources": None}}})
    wait_condition(api, operator, NAME, "Ready")


def test_a_secret_outside_the_operator_namespace_is_refused(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cluster-db", "namespace": "kube-system"},
            "stringData": {"url": "postgresql://root:secret@db.kube-system:5432/x"},
        }
    )
    try:
        api.patch(
            "Portal",
            NAME,
            {
                "spec": {
                    "database": {
                        "postgresql": {
                            "connectionSecret": {"name": "cluster-db", "namespace": "kube-system"}
                        }
                    }
                }
            },
        )
        stalled = wait_condition(api, operator, NAME, "Stalled", "True", "SecretNotAllowed")
        assert "kube-system/cluster-db" in condition(stalled, "Stalled")["message"]
        copied = api.get("Secret", "portal-database", NS)
        assert copied is not None
        assert b"kube-system" not in base64.b64decode(copied["data"]["url"])
    finally:
        api.patch(
            "Portal",
            NAME,
            {
                "spec": {
                    "database": {
                        "postgresql": {
                            "connectionSecret": {"name": "tenant-database", "namespace": None}
                        }
                    }
                }
            },
        )
        api.delete("Secret", "cluster-db", "kube-system")
    wait_condition(api, operator, NAME, "Ready")


def test_foreign_rights_in_the_tenant_namespace_are_reported(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "helpdesk-reads-everything", "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "helpdesk"}],
    }
    api.apply(binding)
    try:
        poke(api, NAME)
        found = wait_for(
            "a ForeignRights Event",
            lambda: [e for e in events(api, NAME) if e["reason"] == "ForeignRights"],
        )
        assert found[0]["type"] == "Warning"
        assert "RoleBinding helpdesk-reads-everything" in found[0]["message"]
        assert "RoleBinding helpdesk-reads-everything" in operator.log()
        # Reported, not removed: the operator has no right to touch RBAC objects.
        assert api.get("RoleBinding", "helpdesk-reads-everything", NS) is not None
    finally:
        api.delete("RoleBinding", "helpdesk-reads-everything", NS)


def _database_secret(api: Api, password: str) -> None:
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{NAME}-database", "namespace": OPERATOR_NAMESPACE},
            "stringData": {"url": f"postgresql://portal:{password}@postgres.databases:5432/lorsch"},
        }
    )


def _checksum(api: Api) -> str:
    deployment = api.get("Deployment", "portal", NS) or {}
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return str(annotations.get("dokportal.dev/credentials-checksum", ""))


def test_a_new_password_reaches_the_copy_and_rolls_the_pods_at_once(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    _database_secret(api, "ErstPW-4711")
    connection = {"name": f"{NAME}-database"}
    api.patch(
        "Portal", NAME, {"spec": {"database": {"postgresql": {"connectionSecret": connection}}}}
    )
    try:
        wait_for("the first URL copied", lambda: b":ErstPW-4711@" in _copied_url(api))
        wait_condition(api, operator, NAME, "Ready")
        before = _checksum(api)
        assert before
        _database_secret(api, "ZweitPW-0815")
        # Faster than the 30 s resync: the operator watches the Secrets next to it.
        wait_for("the new URL copied", lambda: b":ZweitPW-0815@" in _copied_url(api), timeout=15)
        wait_for("a new pod template", lambda: _checksum(api) not in ("", before), timeout=15)
        wait_condition(api, operator, NAME, "Ready")
        assert "ZweitPW-0815" not in operator.log()
    finally:
        api.patch(
            "Portal",
            NAME,
            {
                "spec": {
                    "database": {"postgresql": {"connectionSecret": {"name": "tenant-database"}}}
                }
            },
        )
        wait_for(
            "the tenant URL copied back",
            lambda: b"@postgres.databases:5432/portal" in _copied_url(api),
        )
        api.delete("Secret", f"{NAME}-database", OPERATOR_NAMESPACE)


def _copied_url(api: Api) -> bytes:
    copied = api.get("Secret", "portal-database", NS) or {"data": {"url": ""}}
    return base64.b64decode(copied["data"]["url"])


def test_preexisting_namespace_is_never_adopted_nor_deleted(
    api: Api, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    name = "zwingenberg"
    namespace = f"portal-{name}"
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    api.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "someone-elses", "namespace": namespace},
            "data": {"kept": "yes"},
        }
    )
    try:
        api.apply(s3_portal(name, credentials, app={"replicas": 1}))
        stalled = wait_condition(api, operator, name, "Stalled", "True", "NamespaceTaken")
        assert namespace in condition(stalled, "Stalled")["message"]
        found = api.get("Namespace", namespace)
        assert found is not None
        assert not found["metadata"].get("ownerReferences")
        assert "pod-security.kubernetes.io/enforce" not in (found["metadata"].get("labels") or {})
        assert api.list("Secret", namespace, {"dokportal.dev/portal": name}) == []
        assert [e for e in events(api, name) if e["reason"] == "NamespaceTaken"]

        api.delete("Portal", name)
        wait_for("the Portal to go", lambda: api.get("Portal", name) is None, timeout=60)
        kept = api.get("Namespace", namespace)
        assert kept is not None and not kept["metadata"].get("deletionTimestamp")
        assert api.get("ConfigMap", "someone-elses", namespace) is not None
    finally:
        if api.get("Portal", name):
            api.delete("Portal", name)
        api.delete("Namespace", namespace)
