"""The Portal CRD on the real API server: valid Portals pass a server-side dry-run with their
defaults filled in; invalid ones are rejected with a message a county admin understands."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster import Cluster
from tests.support.kubeapi import Api, ApiFailure, Obj, wait_for

pytestmark = pytest.mark.cluster

S3 = {"s3": {"endpoint": "https://s3.kreis-bergstrasse.de", "credentialsSecret": {"name": "s3"}}}


def portal(name: str = "crd-check", **spec: Any) -> Obj:
    body: Obj = {
        "apiVersion": "dokportal.dev/v1alpha1",
        "kind": "Portal",
        "metadata": {"name": name},
        "spec": {
            "tenant": {"displayName": "Jobcenter Bergstraße, Standort Viernheim"},
            "hostname": "viernheim.dokportal.kreis-bergstrasse.de",
            "storage": copy.deepcopy(S3),
        },
    }
    body["spec"].update(spec)
    return body


VALID: dict[str, Obj] = {
    "minimal s3 + sqlite": portal(),
    "volume + sqlite": portal(storage={"volume": {"size": "50Gi"}, "deletionPolicy": "Delete"}),
    "postgresql, three replicas": portal(
        database={"postgresql": {"connectionSecret": {"name": "db", "namespace": "databases"}}},
        app={"replicas": 3, "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}}},
    ),
    "a department with everything": portal(
        tenant={
            "displayName": "Kreis Bergstraße, Fachbereich Soziales",
            "kind": "department",
            "slug": "fb-soziales",
            "referencePrefix": "FBS",
            "contactEmail": "soziales@kreis-bergstrasse.de",
            "imprintUrl": "https://www.kreis-bergstrasse.de/impressum",
            "privacyUrl": "https://www.kreis-bergstrasse.de/datenschutz",
            "branding": {"primaryColor": "#005A9C", "logo": {"configMapName": "logo"}},
        },
        ingress={"className": "nginx", "clusterIssuer": "letsencrypt"},
        languages={"enabled": ["de", "en", "ar"], "default": "en"},
        encryption={"rotationIntervalDays": 30},
        app={"replicas": 1, "upload": {"maxFileMB": 50, "maxFiles": 10}, "categories": ["other"]},
    ),
}

INVALID: dict[str, tuple[Obj, str]] = {
    "two storage kinds": (
        portal(storage={**S3, "volume": {"size": "1Gi"}}),
        "choose exactly one storage kind: storage.s3 or storage.volume",
    ),
    "no storage kind": (
        portal(storage={"deletionPolicy": "Retain"}),
        "choose exactly one storage kind",
    ),
    "sqlite with two replicas": (
        portal(app={"replicas": 2}),
        "SQLite allows only one replica: set spec.app.replicas to 1 "
        "or use spec.database.postgresql",
    ),
    "two databases": (
        portal(
            database={"sqlite": {}, "postgresql": {"connectionSecret": {"name": "db"}}},
            app={"replicas": 1},
        ),
        "choose exactly one database",
    ),
    "default language not enabled": (
        portal(languages={"enabled": ["de", "en"], "default": "tr"}),
        "languages.default must be one of languages.enabled",
    ),
    "unsupported language": (
        portal(languages={"enabled": ["de", "fr"], "default": "de"}),
        'Unsupported value: "fr"',
    ),
    "rotation below one day": (
        portal(encryption={"rotationIntervalDays": 0}),
        "should be greater than or equal to 1",
    ),
    "hostname with a path": (
        portal(hostname="https://viernheim.example.org/portal"),
        "spec.hostname",
    ),
    "unknown deletion policy": (
        portal(storage={**S3, "deletionPolicy": "Archive"}),
        'Unsupported value: "Archive"',
    ),
    "TLS secret and cert-manager at once": (
        portal(ingress={"tlsSecretName": "tls", "clusterIssuer": "letsencrypt"}),
        "set either ingress.tlsSecretName or ingress.clusterIssuer, not both",
    ),
    "volume size not a quantity": (
        portal(storage={"volume": {"size": "a lot"}}),
        "storage.volume.size must be a positive quantity such as 50Gi",
    ),
    "name too long for a namespace": (
        portal(name="landkreis-bergstrasse-jobcenter-standort-viernheim"),
        "the Portal name must be lower-case letters, digits and '-', at most 40 characters",
    ),
    "no tenant": (
        {**portal(), "spec": {k: v for k, v in portal()["spec"].items() if k != "tenant"}},
        "spec.tenant: Required value",
    ),
    "s3 endpoint without scheme": (
        portal(storage={"s3": {"endpoint": "s3.example.org", "credentialsSecret": {"name": "s"}}}),
        "spec.storage.s3.endpoint",
    ),
    "resource quantity that is not one": (
        portal(app={"resources": {"requests": {"cpu": "lots", "memory": "256Mi"}}}),
        "app.resources.requests values must be quantities such as 250m, 1 or 512Mi",
    ),
    "resource limit that is not one": (
        portal(app={"resources": {"limits": {"memory": "2 GB"}}}),
        "app.resources.limits values must be quantities",
    ),
    "unknown field": (
        portal(replicas=2),
        ".spec.replicas: field not declared in schema",
    ),
}


@pytest.mark.parametrize("body", VALID.values(), ids=VALID.keys())
def test_valid_portals_are_accepted_with_defaults(api: Api, installed: Cluster, body: Obj) -> None:
    result = api.apply(body, dry_run=True)
    spec = result["spec"]
    assert spec["storage"]["deletionPolicy"] in {"Retain", "Delete"}
    assert spec["encryption"]["rotationIntervalDays"] >= 1
    assert spec["languages"]["default"] in spec["languages"]["enabled"]
    assert "sqlite" in spec["database"] or "postgresql" in spec["database"]
    assert spec["app"]["image"]


def test_defaults_are_what_the_docs_say(api: Api, installed: Cluster) -> None:
    spec = api.apply(portal(), dry_run=True)["spec"]
    assert spec["storage"]["deletionPolicy"] == "Retain"
    assert spec["database"] == {"sqlite": {"size": "1Gi"}}
    assert spec["encryption"] == {"rotationIntervalDays": 90}
    assert spec["languages"] == {
        "enabled": ["de", "en", "uk", "ar", "tr", "ru", "fa"],
        "default": "de",
    }
    assert spec["app"]["replicas"] == 1
    assert spec["storage"]["s3"]["pathStyle"] is True


@pytest.mark.parametrize(("body", "message"), INVALID.values(), ids=INVALID.keys())
def test_invalid_portals_are_rejected_readably(
    api: Api, installed: Cluster, body: Obj, message: str
) -> None:
    with pytest.raises(ApiFailure) as failure:
        api.apply(body, dry_run=True)
    # Server-side apply reports a field the schema does not know as 500, everything else 422.
    assert failure.value.code in {422, 500}
    assert message in failure.value.message


@pytest.fixture
def existing(api: Api, installed: Cluster) -> Iterator[Obj]:
    """A stored Portal to try updates against. No operator runs in this module's tests, so
    it gets no finalizer... unless the session's operator already runs; then it cleans up."""
    stored = api.apply(portal("crd-updates", storage={"volume": {"size": "10Gi"}}))
    yield stored
    api.delete("Portal", "crd-updates")
    wait_for("the test Portal to go", lambda: api.get("Portal", "crd-updates") is None)


UPDATES: dict[str, tuple[Obj, str]] = {
    "storage kind": ({"storage": copy.deepcopy(S3)}, "the storage kind cannot be changed"),
    "volume shrinks": (
        {"storage": {"volume": {"size": "5Gi"}}},
        "storage.volume.size may only grow",
    ),
    "slug set later to something else": (
        {"tenant": {"displayName": "x", "slug": "other-slug"}},
        "tenant.slug cannot be changed",
    ),
}


@pytest.mark.parametrize(("change", "message"), UPDATES.values(), ids=UPDATES.keys())
def test_immutable_fields(api: Api, existing: Obj, change: Obj, message: str) -> None:
    body = copy.deepcopy(existing)
    body["metadata"] = {"name": existing["metadata"]["name"]}
    body.pop("status", None)
    body["spec"].update(change)
    with pytest.raises(ApiFailure) as failure:
        api.apply(body, dry_run=True)
    assert message in failure.value.message


def test_database_kind_is_fixed_with_a_way_to_migrate(api: Api, existing: Obj) -> None:
    """SQLite → PostgreSQL would start the portal on an empty, never-migrated database."""
    switch = {
        "spec": {"database": {"sqlite": None, "postgresql": {"connectionSecret": {"name": "db"}}}}
    }
    with pytest.raises(ApiFailure) as failure:
        api.patch("Portal", "crd-updates", switch)
    assert "the database kind cannot be changed after creation" in failure.value.message
    assert "To migrate:" in failure.value.message
    stored = api.get("Portal", "crd-updates")
    assert stored is not None and "sqlite" in stored["spec"]["database"]


def test_volume_may_grow_and_bucket_is_fixed(api: Api, existing: Obj) -> None:
    body = {
        "apiVersion": existing["apiVersion"],
        "kind": "Portal",
        "metadata": {"name": "crd-updates"},
    }
    body["spec"] = {**existing["spec"], "storage": {"volume": {"size": "20Gi"}}}
    assert api.apply(body, dry_run=True)["spec"]["storage"]["volume"]["size"] == "20Gi"

    bucketed = api.apply(portal("crd-bucket", storage={"s3": {**S3["s3"], "bucket": "jc-one"}}))
    try:
        moved = copy.deepcopy(bucketed)
        moved["metadata"] = {"name": "crd-bucket"}
        moved["spec"]["storage"]["s3"]["bucket"] = "jc-two"
        with pytest.raises(ApiFailure) as failure:
            api.apply(moved, dry_run=True)
        assert "storage.s3.bucket cannot be changed after creation" in failure.value.message
    finally:
        api.delete("Portal", "crd-bucket")
        wait_for("the test Portal to go", lambda: api.get("Portal", "crd-bucket") is None)


def test_printer_columns(installed: Cluster) -> None:
    crd = installed.kubectl("get", "crd", "portals.dokportal.dev", "-o", "json")
    columns = json.loads(crd)["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c.get("priority", 0)) for c in columns] == [
        ("Ready", 0),
        ("Hostname", 0),
        ("Languages", 0),
        ("Age", 0),
        ("Reason", 1),
        ("Replicas", 1),
        ("Key", 1),
    ]


EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("portal-*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_examples_apply_cleanly(api: Api, installed: Cluster, path: Path) -> None:
    """Every example passes the CRD as it is (server-side dry-run), TLS included."""
    for document in yaml.safe_load_all(path.read_text()):
        if not document:
            continue
        result = api.apply(document, dry_run=True)
        assert result["metadata"]["name"] == document["metadata"]["name"]
        ingress = result["spec"].get("ingress") or {}
        assert ingress.get("tlsSecretName") or ingress.get("clusterIssuer"), path.name
