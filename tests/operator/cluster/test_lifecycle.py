"""A tenant's life on a real control plane, in order: create (S3 on SeaweedFS), idle resync,
drift, language change, bad credentials, key rotation, deletion with Delete.

The tests share the Portal "heppenheim" and run top to bottom (each starts from the state the
one before left); the operator runs as its own process with the chart's RBAC only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.operator.cluster.portals import (
    buckets,
    keyring,
    passes_logged,
    s3_portal,
    wait_condition,
)
from tests.support.cluster import NODE_NAME, OPERATOR_NAMESPACE
from tests.support.kubeapi import Api, Obj, condition, wait_for
from tests.support.operator import OperatorProcess
from tests.support.seaweed import SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.s3]

NAME = "heppenheim"
NS = f"portal-{NAME}"
CHILD_KINDS = (
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "Service",
    "Deployment",
    "Job",
    "Ingress",
    "PodDisruptionBudget",
)
MANAGED = {"app.kubernetes.io/managed-by": "dokportal-operator", "dokportal.dev/portal": NAME}


@pytest.fixture(scope="module")
def portal(api: Api, operator: OperatorProcess, credentials: SeaweedS3) -> Iterator[Obj]:
    api.apply(s3_portal(NAME, credentials))
    yield wait_condition(api, operator, NAME, "Ready", timeout=90)
    # Whatever a failed test left: remove it (the last test deletes it normally).
    if api.get("Portal", NAME):
        api.delete("Portal", NAME)


def _versions(api: Api) -> dict[tuple[str, str], str]:
    found = {}
    for kind in CHILD_KINDS:
        if kind == "Namespace":
            items = [api.get("Namespace", NS) or {}]
        else:
            items = api.list(kind, NS, MANAGED)
        for item in items:
            meta = item["metadata"]
            found[(kind, meta["name"])] = meta["resourceVersion"]
    return found


def _ready_pods(api: Api, template_hash: str | None = None) -> list[Obj]:
    pods = api.list("Pod", NS, {"app.kubernetes.io/component": "web"})
    return [
        pod
        for pod in pods
        if condition(pod, "Ready").get("status") == "True"
        and not pod["metadata"].get("deletionTimestamp")
        and (
            template_hash is None or pod["metadata"]["labels"]["pod-template-hash"] == template_hash
        )
    ]


def test_create_builds_an_isolated_instance(
    api: Api, portal: Obj, credentials: SeaweedS3, operator: OperatorProcess
) -> None:
    status = portal["status"]
    assert status["namespace"] == NS
    assert status["url"] == f"https://{NAME}.dokportal.example.org"
    assert status["languages"] == "de,en,uk,ar,tr,ru,fa"
    assert status["replicas"] == "2/2"
    for kind in ("KeysReady", "StorageReady", "DatabaseReady", "WorkloadAvailable"):
        assert condition(portal, kind)["status"] == "True", kind
    assert condition(portal, "Stalled")["status"] == "False"

    namespace = api.get("Namespace", NS)
    assert namespace is not None
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["ownerReferences"][0]["kind"] == "Portal"
    quota = api.get("ResourceQuota", "portal-quota", NS)
    assert quota is not None and quota["spec"]["hard"]["services.loadbalancers"] == "0"
    # CPU and memory for the pods a rollout needs (2 replicas: 8 pods of 1 CPU / 512Mi).
    hard = quota["spec"]["hard"]
    assert (hard["limits.cpu"], hard["limits.memory"]) == ("8", "4Gi")
    assert (hard["requests.cpu"], hard["requests.memory"]) == ("800m", "2Gi")
    limits = api.get("LimitRange", "portal-limits", NS)
    assert limits is not None
    assert limits["spec"]["limits"][0]["default"] == {"cpu": "1", "memory": "512Mi"}
    deny = api.get("NetworkPolicy", "default-deny", NS)
    assert deny is not None and deny["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }
    account = api.get("ServiceAccount", "portal", NS)
    assert account is not None and account["automountServiceAccountToken"] is False

    ring = keyring(api, NS)
    assert list(ring["keys"]) == [ring["primary"]] == [status["primaryKeyId"]]
    assert len(base64.b64decode(ring["keys"][ring["primary"]])) == 32

    assert buckets(credentials, f"dokportal-{NAME}-") == [status["bucket"]]
    copied = api.get("Secret", "portal-s3", NS)
    assert copied is not None
    # The tenant's own identity (storage.s3.identity: iam), never the admin keys.
    assert base64.b64decode(copied["data"]["secret-key"]).decode() != credentials.secret_key
    access_key = base64.b64decode(copied["data"]["access-key"]).decode()
    assert access_key == status["s3Identity"]["accessKeyId"] != credentials.access_key

    deployment = api.get("Deployment", "portal", NS)
    assert deployment is not None
    assert deployment["metadata"]["labels"]["dokportal.dev/part"] == "workload"
    assert deployment["metadata"]["ownerReferences"][0]["name"] == NAME
    managers = {entry["manager"] for entry in deployment["metadata"]["managedFields"]}
    assert "dokportal-operator" in managers
    pods = _ready_pods(api)
    assert len(pods) == 2 and {pod["spec"]["nodeName"] for pod in pods} == {NODE_NAME}
    assert {pod["spec"]["serviceAccountName"] for pod in pods} == {"portal"}
    migration = [job for job in api.list("Job", NS) if "migrate" in job["metadata"]["name"]]
    assert len(migration) == 1 and condition(migration[0], "Complete")["status"] == "True"

    # Secrets never reach the status, the events or the operator's log.
    material = ring["keys"][ring["primary"]]
    events = json.dumps(api.list("Event", "default")) + json.dumps(api.list("Event", NS))
    for text in (json.dumps(portal), events, operator.log()):
        assert material not in text
        assert credentials.secret_key not in text


def test_idle_resync_writes_nothing(api: Api, portal: Obj, operator: OperatorProcess) -> None:
    before = _versions(api)
    status_before = (api.get("Portal", NAME) or {})["status"]
    seen = len(passes_logged(operator))
    # An unrelated annotation wakes the operator for a full pass over everything.
    poked = api.patch("Portal", NAME, {"metadata": {"annotations": {"example.org/poke": "1"}}})
    line = wait_for(
        "a reconcile pass after the poke",
        lambda: next(
            (ln for ln in passes_logged(operator)[seen:] if f"pass done for {NAME}:" in ln), None
        ),
    )
    assert ": 0 writes" in line, line
    assert _versions(api) == before
    after = api.get("Portal", NAME) or {}
    assert after["status"] == status_before
    # Nor did kopf write its bookkeeping (a diff-base annotation) into the Portal.
    assert after["metadata"]["resourceVersion"] == poked["metadata"]["resourceVersion"]


def test_drift_is_repaired(api: Api, portal: Obj, operator: OperatorProcess) -> None:
    old = api.get("Deployment", "portal", NS)
    assert old is not None
    api.delete("Deployment", "portal", NS)
    wait_for(
        "a new Deployment",
        lambda: (
            (api.get("Deployment", "portal", NS) or {}).get("metadata", {}).get("uid")
            not in (None, old["metadata"]["uid"])
        ),
    )
    policy = api.get("NetworkPolicy", "portal", NS)
    assert policy is not None
    wanted = policy["spec"]
    api.patch(
        "NetworkPolicy",
        "portal",
        {"spec": {"ingress": [{}], "egress": [{}]}},  # "allow everything"
        NS,
    )
    wait_for(
        "the NetworkPolicy to be restored",
        lambda: (api.get("NetworkPolicy", "portal", NS) or {}).get("spec") == wanted,
    )
    wait_condition(api, operator, NAME, "Ready")
    wait_for("two ready pods again", lambda: len(_ready_pods(api)) == 2)


def test_added_env_var_sidecar_and_volume_are_taken_back(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    """Server-side apply alone leaves what another field manager added; the operator removes
    it (an extra env var could redirect the portal, a sidecar could read its keys)."""
    before = api.get("Deployment", "portal", NS)
    assert before is not None
    wanted = before["spec"]["template"]["spec"]
    api.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "portal", "namespace": NS},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "portal", "env": [{"name": "EXTRA", "value": "1"}]},
                            {"name": "sidecar", "image": "busybox:1.36"},
                        ],
                        "volumes": [{"name": "loot", "emptyDir": {}}],
                    }
                }
            },
        },
        manager="intruder",
    )
    intruded = api.get("Deployment", "portal", NS)
    assert intruded is not None
    assert [c["name"] for c in intruded["spec"]["template"]["spec"]["containers"]] == [
        "portal",
        "sidecar",
    ]

    def restored() -> bool:
        current = (api.get("Deployment", "portal", NS) or {})["spec"]["template"]["spec"]
        return (
            [c["name"] for c in current["containers"]] == ["portal"]
            and [e["name"] for e in current["containers"][0].get("env", [])]
            == [e["name"] for e in wanted["containers"][0].get("env", [])]
            and [v["name"] for v in current.get("volumes", [])]
            == [v["name"] for v in wanted.get("volumes", [])]
        )

    wait_for("the env var, the sidecar and the volume to be taken back", restored, timeout=30)
    wait_condition(api, operator, NAME, "Ready")


def test_language_change_renders_config_and_rolls_pods(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    old = api.get("Deployment", "portal", NS)
    assert old is not None
    old_checksum = old["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    api.patch("Portal", NAME, {"spec": {"languages": {"enabled": ["de", "en", "ar"]}}})
    wait_for(
        "the new languages in the ConfigMap",
        lambda: (
            (api.get("ConfigMap", "portal-config", NS) or {})
            .get("data", {})
            .get("DOKPORTAL_TENANT__LANGUAGES")
            == "de,en,ar"
        ),
    )
    new = wait_for(
        "a new pod template",
        lambda: (
            d
            if (d := api.get("Deployment", "portal", NS))
            and d["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != old_checksum
            else None
        ),
    )
    ready = wait_condition(api, operator, NAME, "Ready")
    assert ready["status"]["languages"] == "de,en,ar"
    checksum = new["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    sets = [
        rs
        for rs in api.list("ReplicaSet", NS)
        if rs["spec"]["template"]["metadata"]["annotations"]["checksum/config"] == checksum
    ]
    assert len(sets) == 1
    fresh = sets[0]["metadata"]["labels"]["pod-template-hash"]
    wait_for("two ready pods of the new template", lambda: len(_ready_pods(api, fresh)) == 2)
    wait_for("the old pods to go", lambda: len(_ready_pods(api)) == 2)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("wrong-secret", "InvalidSecretKey"),
        ("unknown-key", "InvalidAccessKey"),
        ("other-tenant", "AccessDenied"),
    ],
)
def test_bad_credentials_are_reported_and_nothing_is_torn_down(
    api: Api,
    portal: Obj,
    operator: OperatorProcess,
    credentials: SeaweedS3,
    secret: str,
    reason: str,
) -> None:
    keys = {
        "wrong-secret": (credentials.access_key, "not-the-secret-key"),
        "unknown-key": ("AKNOBODYKNOWSTHIS", credentials.secret_key),
        "other-tenant": (credentials.other.access_key, credentials.other.secret_key),
    }[secret]
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "namespace": OPERATOR_NAMESPACE},
            "stringData": {"access-key": keys[0], "secret-key": keys[1]},
        }
    )
    deployment = api.get("Deployment", "portal", NS)
    ring = keyring(api, NS)
    before = api.get("Secret", "portal-s3", NS)
    assert before is not None
    api.patch(
        "Portal", NAME, {"spec": {"storage": {"s3": {"credentialsSecret": {"name": secret}}}}}
    )
    stalled = wait_condition(api, operator, NAME, "StorageReady", "False", reason)
    assert condition(stalled, "Stalled")["status"] == "True"
    assert condition(stalled, "Ready")["status"] == "False"
    assert keys[1] not in json.dumps(stalled)
    # Nothing torn down, the pods keep the credentials that worked.
    still = api.get("Deployment", "portal", NS)
    assert still is not None and still["metadata"]["uid"] == deployment["metadata"]["uid"]  # type: ignore[index]
    assert keyring(api, NS) == ring
    copied = api.get("Secret", "portal-s3", NS)
    assert copied is not None
    assert copied["data"] == before["data"]
    assert len(_ready_pods(api)) == 2

    api.patch(
        "Portal",
        NAME,
        {"spec": {"storage": {"s3": {"credentialsSecret": {"name": "s3-credentials"}}}}},
    )
    wait_condition(api, operator, NAME, "Ready")


def _rewrap_job(api: Api) -> Obj | None:
    jobs = api.list("Job", NS, {"app.kubernetes.io/component": "rewrap"})
    return jobs[0] if jobs else None


def test_rotation_by_annotation_retires_old_key_only_after_rewrap(
    api: Api, portal: Obj, operator: OperatorProcess
) -> None:
    old = keyring(api, NS)
    api.patch(
        "Portal", NAME, {"metadata": {"annotations": {"dokportal.dev/rotate-keys": "rotate-1"}}}
    )
    rotated = wait_for(
        "a new primary key", lambda: (r := keyring(api, NS))["primary"] != old["primary"] and r
    )
    assert set(rotated["keys"]) == {old["primary"], rotated["primary"]}
    wait_for(
        "the pods to roll to the new key",
        lambda: (
            (api.get("Deployment", "portal", NS) or {})["spec"]["template"]["metadata"][
                "annotations"
            ]["dokportal.dev/keyring-primary"]
            == rotated["primary"]
        ),
    )
    job = wait_for("the rewrap Job", lambda: _rewrap_job(api))
    assert job["metadata"]["name"] == f"portal-rewrap-{rotated['primary']}"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["keys", "rewrap"]
    reconciling = wait_condition(api, operator, NAME, "Reconciling", "True", "RewrapRunning")
    assert reconciling["status"]["primaryKeyId"] == rotated["primary"]
    # While the Job runs, the old key stays.
    assert set(keyring(api, NS)["keys"]) == {old["primary"], rotated["primary"]}

    _succeed(api, job)
    wait_for(
        "the old key to retire", lambda: list(keyring(api, NS)["keys"]) == [rotated["primary"]]
    )
    wait_for("the rewrap Job to be pruned", lambda: _rewrap_job(api) is None)
    settled = wait_condition(api, operator, NAME, "Reconciling", "False")
    assert condition(settled, "Ready")["status"] == "True"
    secret = api.get("Secret", "portal-keyring", NS)
    assert secret is not None
    assert "dokportal.dev/retiring-keys" not in secret["metadata"]["annotations"]


def _succeed(api: Api, job: Obj) -> None:
    """What the job controller writes when a Job's pod succeeded (kwok holds rewrap pods)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions: list[dict[str, Any]] = [
        {
            "type": kind,
            "status": "True",
            "reason": "CompletionsReached",
            "message": "Reached expected number of succeeded pods",
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
        for kind in ("SuccessCriteriaMet", "Complete")
    ]
    api.patch(
        "Job",
        job["metadata"]["name"],
        {
            "status": {
                "conditions": conditions,
                "succeeded": 1,
                "active": 0,
                "ready": 0,
                "completionTime": now,
            }
        },
        NS,
        subresource="status",
    )


def test_delete_with_policy_delete_shreds_keys_and_removes_the_bucket(
    api: Api, portal: Obj, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    bucket = (api.get("Portal", NAME) or {})["status"]["bucket"]
    credentials.client().put_object(Bucket=bucket, Key="blobs/some-document", Body=b"cipher")
    api.patch("Portal", NAME, {"spec": {"storage": {"deletionPolicy": "Delete"}}})
    wait_condition(api, operator, NAME, "Ready")
    api.delete("Portal", NAME)
    wait_for("the Portal to be gone", lambda: api.get("Portal", NAME) is None, timeout=60)
    assert buckets(credentials, bucket) == []
    # The namespace goes with the Portal (its owner reference; the garbage collector).
    wait_for(
        "the namespace to go",
        lambda: (ns := api.get("Namespace", NS)) is None or ns["metadata"].get("deletionTimestamp"),
    )
    assert api.get("Secret", "portal-keyring", NS) is None
    retained = api.list("Secret", OPERATOR_NAMESPACE, {"dokportal.dev/retained-from": NAME})
    assert retained == []
    # Crypto-shredding comes first: the keys go before the data.
    log = operator.log()
    assert log.index("keyring deleted") < log.index(f"bucket {bucket} emptied and removed")
