"""The validating webhook, served by the operator and called by the real API server on
127.0.0.1: the chart's ValidatingWebhookConfiguration gets the operator's CA (made with
`cryptography`) and URL, then Portals that clash with another one, or name a Secret outside
the operator's namespace, are refused with a message naming the other Portal.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from tests.operator.cluster.portals import s3_portal
from tests.support.cluster import OPERATOR_NAMESPACE, Cluster
from tests.support.kubeapi import Api, ApiFailure, Obj, wait_for
from tests.support.operator import OperatorProcess, rendered_operator_chart
from tests.support.seaweed import SeaweedS3

pytestmark = [pytest.mark.cluster, pytest.mark.s3]

FIRST = "rimbach"
BUCKET = "jc-rimbach"
CONFIG = "dokportal-operator"


def _first(seaweed: SeaweedS3) -> Obj:
    body = s3_portal(FIRST, seaweed, app={"replicas": 1})
    body["spec"]["storage"]["s3"]["bucket"] = BUCKET
    return body


def _refusal(api: Api, body: Obj) -> str:
    with pytest.raises(ApiFailure) as failure:
        api.apply(body, dry_run=True)
    assert "admission webhook" in failure.value.message, failure.value.message
    return failure.value.message


@pytest.fixture(scope="module")
def webhook(
    api: Api, installed: Cluster, operator: OperatorProcess, credentials: SeaweedS3
) -> Iterator[Obj]:
    config = next(
        doc
        for doc in rendered_operator_chart(installed)
        if doc["kind"] == "ValidatingWebhookConfiguration"
    )
    assert config["webhooks"][0]["failurePolicy"] == "Fail"
    api.apply(_first(credentials))  # before the webhook: until it answers, Fail refuses all
    api.apply(config)
    try:
        patched = wait_for(
            "the operator to set the webhook's CA bundle and URL",
            lambda: (
                found
                if (found := api.get("ValidatingWebhookConfiguration", CONFIG))
                and found["webhooks"][0]["clientConfig"].get("caBundle")
                and found["webhooks"][0]["clientConfig"].get("url")
                else None
            ),
        )

        def answering() -> bool:
            clash = s3_portal(
                "probe-clash", credentials, hostname=_first(credentials)["spec"]["hostname"]
            )
            try:
                api.apply(clash, dry_run=True)
            except ApiFailure as error:
                return f"Portal {FIRST}" in error.message
            return False

        wait_for("the webhook to refuse a clash", answering)
        yield patched
    finally:
        api.delete("ValidatingWebhookConfiguration", CONFIG)
        api.delete("Portal", FIRST)
        wait_for("the first Portal to go", lambda: api.get("Portal", FIRST) is None, timeout=60)
        client = credentials.client()
        for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
        client.delete_bucket(Bucket=BUCKET)
        for secret in api.list(
            "Secret", OPERATOR_NAMESPACE, {"dokportal.dev/retained-from": FIRST}
        ):
            api.delete("Secret", secret["metadata"]["name"], OPERATOR_NAMESPACE)


def test_the_operator_manages_the_ca_bundle(
    api: Api, webhook: Obj, operator: OperatorProcess
) -> None:
    client = webhook["webhooks"][0]["clientConfig"]
    assert client["url"] == f"https://127.0.0.1:{operator.webhook_port}/portals"
    ca = x509.load_pem_x509_certificate(base64.b64decode(client["caBundle"]))
    secret = api.get("Secret", f"{CONFIG}-webhook-tls", OPERATOR_NAMESPACE)
    assert secret is not None
    assert base64.b64decode(secret["data"]["ca.crt"]) == base64.b64decode(client["caBundle"])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


CLASHES: dict[str, tuple[dict[str, Any], str]] = {
    "hostname": ({"hostname": f"{FIRST}.dokportal.example.org"}, "the hostname"),
    "slug": ({"tenant": {"displayName": "Fürth", "slug": FIRST}}, "the tenant slug"),
    "bucket": ({}, "the bucket"),
}


@pytest.mark.parametrize(("change", "what"), CLASHES.values(), ids=CLASHES.keys())
def test_a_clash_is_refused_naming_the_other_portal(
    api: Api, webhook: Obj, credentials: SeaweedS3, change: dict[str, Any], what: str
) -> None:
    body = s3_portal("fuerth", credentials, app={"replicas": 1}, **change)
    if what == "the bucket":
        body["spec"]["storage"]["s3"]["bucket"] = BUCKET
    message = _refusal(api, body)
    assert what in message and f"Portal {FIRST}" in message


def test_a_secret_outside_the_operator_namespace_is_refused(
    api: Api, webhook: Obj, credentials: SeaweedS3
) -> None:
    body = s3_portal("fuerth", credentials, app={"replicas": 1})
    body["spec"]["storage"]["s3"]["credentialsSecret"] = {"name": "x", "namespace": "kube-system"}
    assert "kube-system/x" in _refusal(api, body)


def test_an_invalid_time_zone_is_refused(api: Api, webhook: Obj, credentials: SeaweedS3) -> None:
    body = s3_portal("fuerth", credentials, tenant={"displayName": "F", "timezone": "Mars/Olympus"})
    assert "Mars/Olympus" in _refusal(api, body)


def test_the_first_portal_stays_editable_and_new_portals_pass(
    api: Api, webhook: Obj, credentials: SeaweedS3
) -> None:
    first = _first(credentials)
    first["spec"]["tenant"]["displayName"] = "Jobcenter Rimbach (neu)"
    assert api.apply(first, dry_run=True)["spec"]["tenant"]["displayName"].endswith("(neu)")
    fresh = s3_portal("fuerth", credentials, app={"replicas": 1})
    assert api.apply(fresh, dry_run=True)["metadata"]["name"] == "fuerth"
