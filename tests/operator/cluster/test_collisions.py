"""Two Portals never share a hostname, a bucket or a tenant slug. These Portals reach the
operator without the admission webhook (as when it was down): the reconcile loop finds the
clash, the later Portal is Stalled naming the other, the first keeps serving — and deleting
the later one with deletionPolicy Delete leaves the first one's documents alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.operator.cluster.portals import buckets, events, s3_portal, wait_condition
from tests.support.cluster import OPERATOR_NAMESPACE
from tests.support.kubeapi import Api, Obj, condition, wait_for
from tests.support.operator import OperatorProcess
from tests.support.seaweed import SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.s3]

FIRST = "bensheim"
BUCKET = "jc-shared-bensheim"
HOST = f"{FIRST}.dokportal.example.org"


def _bucketed(name: str, seaweed: SeaweedS3, policy: str, **spec: object) -> Obj:
    body = s3_portal(name, seaweed, app={"replicas": 1}, **spec)
    body["spec"]["storage"]["s3"]["bucket"] = BUCKET
    body["spec"]["storage"]["deletionPolicy"] = policy
    return body


def _remove(api: Api, name: str) -> None:
    if api.get("Portal", name):
        api.delete("Portal", name)
    wait_for(f"Portal {name} to go", lambda: api.get("Portal", name) is None, timeout=60)


@pytest.fixture(scope="module")
def first(api: Api, operator: OperatorProcess, credentials: SeaweedS3) -> Iterator[Obj]:
    api.apply(_bucketed(FIRST, credentials, "Retain"))
    ready = wait_condition(api, operator, FIRST, "Ready", timeout=90)
    credentials.client().put_object(Bucket=BUCKET, Key="blobs/first-document", Body=b"cipher")
    yield ready
    _remove(api, FIRST)
    client = credentials.client()
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)
    for secret in api.list("Secret", OPERATOR_NAMESPACE, {"dokportal.dev/retained-from": FIRST}):
        api.delete("Secret", secret["metadata"]["name"], OPERATOR_NAMESPACE)


def _first_still_serves(api: Api, credentials: SeaweedS3) -> None:
    portal = api.get("Portal", FIRST)
    assert condition(portal, "Ready")["status"] == "True"
    body = credentials.client().get_object(Bucket=BUCKET, Key="blobs/first-document")["Body"]
    assert body.read() == b"cipher"


def test_shared_bucket_later_portal_stalls_and_its_delete_policy_spares_the_bucket(
    api: Api, first: Obj, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    later = "lampertheim"
    try:
        api.apply(_bucketed(later, credentials, "Delete"))
        stalled = wait_condition(api, operator, later, "Stalled", "True", "BucketTaken")
        message = condition(stalled, "Stalled")["message"]
        assert FIRST in message and BUCKET in message
        assert api.get("Namespace", f"portal-{later}") is None
        assert [e for e in events(api, later) if e["reason"] == "BucketTaken"]
        _first_still_serves(api, credentials)
    finally:
        _remove(api, later)
    # Deleting the later Portal (deletionPolicy Delete) never touched the first one's data.
    assert buckets(credentials, BUCKET) == [BUCKET]
    _first_still_serves(api, credentials)


@pytest.mark.parametrize(
    ("later", "spec", "reason"),
    [
        ("einhausen", {"hostname": HOST}, "HostnameTaken"),
        (
            "gorxheim",
            {"tenant": {"displayName": "Gorxheimertal", "slug": FIRST}},
            "SlugTaken",
        ),
    ],
)
def test_shared_hostname_or_slug_later_portal_stalls(
    api: Api,
    first: Obj,
    operator: OperatorProcess,
    credentials: SeaweedS3,
    later: str,
    spec: dict[str, object],
    reason: str,
) -> None:
    try:
        api.apply(s3_portal(later, credentials, app={"replicas": 1}, **spec))
        stalled = wait_condition(api, operator, later, "Stalled", "True", reason)
        assert f"Portal {FIRST}" in condition(stalled, "Stalled")["message"]
        assert api.get("Namespace", f"portal-{later}") is None
        ingresses = [
            ingress
            for namespace in api.list("Namespace")
            for ingress in api.list("Ingress", namespace["metadata"]["name"])
        ]
        hosts = [rule["host"] for ingress in ingresses for rule in ingress["spec"]["rules"]]
        assert hosts.count(HOST) == 1
        _first_still_serves(api, credentials)
    finally:
        _remove(api, later)


@pytest.mark.parametrize(
    ("spec", "reason", "text"),
    [
        (
            {"tenant": {"displayName": "Birkenau", "timezone": "Europe/Birkenau"}},
            "InvalidSpec",
            "Europe/Birkenau",
        ),
        ({"ingress": {"className": "nginx"}}, "TLSMissing", "ingress.allowPlainHTTP"),
    ],
    ids=["time zone", "no TLS"],
)
def test_what_the_crd_cannot_check_is_stalled(
    api: Api,
    operator: OperatorProcess,
    credentials: SeaweedS3,
    spec: dict[str, object],
    reason: str,
    text: str,
) -> None:
    name = "birkenau"
    try:
        api.apply(s3_portal(name, credentials, app={"replicas": 1}, **spec))
        stalled = wait_condition(api, operator, name, "Stalled", "True", reason)
        assert text in condition(stalled, "Stalled")["message"]
        assert api.get("Namespace", f"portal-{name}") is None
        assert [e for e in events(api, name) if e["reason"] == reason]
    finally:
        _remove(api, name)


def test_plain_http_only_when_asked_for(
    api: Api, operator: OperatorProcess, credentials: SeaweedS3
) -> None:
    name = "birkenau"
    try:
        body = s3_portal(name, credentials, app={"replicas": 1}, ingress={"allowPlainHTTP": True})
        body["spec"]["storage"]["deletionPolicy"] = "Delete"  # leaves nothing behind
        api.apply(body)
        ready = wait_condition(api, operator, name, "Ready", timeout=90)
        assert ready["status"]["url"] == f"http://{name}.dokportal.example.org"
        ingress = api.get("Ingress", "portal", f"portal-{name}")
        assert ingress is not None and not ingress["spec"].get("tls")
    finally:
        _remove(api, name)
