"""Portal manifests and waits shared by the cluster tests."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from tests.support.kubeapi import Api, Obj, condition, wait_for
from tests.support.operator import OperatorProcess
from tests.support.seaweed import SeaweedS3


def s3_portal(name: str, seaweed: SeaweedS3, **spec: Any) -> Obj:
    body: Obj = {
        "apiVersion": "dokportal.dev/v1alpha1",
        "kind": "Portal",
        "metadata": {"name": name},
        "spec": {
            "tenant": {"displayName": f"Jobcenter Bergstraße, {name.title()}"},
            "hostname": f"{name}.dokportal.example.org",
            # TLS by cert-manager (not installed here: the Ingress only carries the annotation).
            "ingress": {"clusterIssuer": "letsencrypt"},
            "storage": {
                "s3": {
                    "endpoint": seaweed.endpoint_url,
                    "credentialsSecret": {"name": "s3-credentials"},
                }
            },
            "database": {"postgresql": {"connectionSecret": {"name": "tenant-database"}}},
            "app": {"replicas": 2},
        },
    }
    body["spec"].update(spec)
    return body


def wait_condition(
    api: Api,
    operator: OperatorProcess,
    name: str,
    kind: str,
    status: str = "True",
    reason: str | None = None,
    timeout: float = 60,
) -> Obj:
    def check() -> Obj | None:
        portal = api.get("Portal", name)
        cond = condition(portal, kind)
        meta = (portal or {}).get("metadata", {})
        if (
            cond.get("status") == status
            and (reason is None or cond.get("reason") == reason)
            and cond.get("observedGeneration") == meta.get("generation")
        ):
            return portal
        return None

    try:
        return wait_for(f"Portal {name} {kind}={status} ({reason or 'any reason'})", check, timeout)
    except AssertionError as error:
        portal = api.get("Portal", name) or {}
        raise AssertionError(
            f"{error}\nstatus: {json.dumps(portal.get('status'), indent=1)}\n"
            f"operator log:\n{operator.log_tail()}"
        ) from None


def keyring(api: Api, namespace: str) -> dict[str, Any]:
    secret = api.get("Secret", "portal-keyring", namespace)
    assert secret is not None
    document: dict[str, Any] = json.loads(base64.b64decode(secret["data"]["keyring.json"]))
    return document


def buckets(seaweed: SeaweedS3, prefix: str) -> list[str]:
    names = [bucket["Name"] for bucket in seaweed.client().list_buckets().get("Buckets", [])]
    return sorted(name for name in names if name.startswith(prefix))


def passes_logged(operator: OperatorProcess) -> list[str]:
    return [line for line in operator.log().splitlines() if "pass done for " in line]


def poke(api: Api, name: str) -> None:
    """Wake the Portal's loop for a full pass (an annotation nobody reads, a new value)."""
    api.patch(
        "Portal", name, {"metadata": {"annotations": {"example.org/poke": str(time.monotonic())}}}
    )


def events(api: Api, name: str) -> list[Obj]:
    """The Events posted on the (cluster-scoped) Portal `name`, oldest first."""
    found = [
        event
        for event in api.list("Event", "default")
        if event["involvedObject"].get("kind") == "Portal"
        and event["involvedObject"].get("name") == name
    ]
    return sorted(found, key=lambda event: event["metadata"]["creationTimestamp"])
