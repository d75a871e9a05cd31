"""The webhook's rules and certificate, without a cluster."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from dokportal_operator import admission, collisions, webhook
from dokportal_operator.settings import OperatorSettings
from tests.operator.unit.helpers import BODY


def _table(*bodies: dict[str, object]) -> dict[tuple[str, str], list[collisions.Claim]]:
    table: dict[tuple[str, str], list[collisions.Claim]] = {}
    for body in bodies:
        meta = body["metadata"]
        assert isinstance(meta, dict)
        for key, claim in collisions.index(meta["name"], body["spec"], meta).items():  # type: ignore[arg-type]
            table.setdefault(key, []).append(claim)
    return table


def _portal(name: str, **spec: object) -> dict[str, object]:
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {**BODY["spec"], **spec},
    }


SETTINGS = OperatorSettings(namespace="dokportal", secret_namespaces="databases")


def test_a_new_portal_on_a_taken_hostname_is_refused_naming_the_holder() -> None:
    table = _table(_portal("viernheim"))
    found = admission.problems(SETTINGS, _portal("lampertheim"), None, table)
    assert len(found) == 1 and "Portal viernheim" in found[0] and "hostname" in found[0]


def test_the_holder_stays_editable_while_a_later_portal_clashes() -> None:
    first, later = _portal("viernheim"), _portal("lampertheim")
    table = _table(first, later)
    changed = _portal("viernheim", languages={"enabled": ["de"], "default": "de"})
    assert admission.problems(SETTINGS, changed, first, table) == []
    moved = _portal("viernheim", hostname="lampertheim.example.org")
    assert (
        admission.problems(
            SETTINGS, moved, first, _table(_portal("x", hostname="lampertheim.example.org"))
        )
        != []
    )


def test_secrets_only_from_allowed_namespaces() -> None:
    pg = {"postgresql": {"connectionSecret": {"name": "db", "namespace": "kube-system"}}}
    found = admission.problems(SETTINGS, _portal("a", database=pg), None, {})
    assert found and "kube-system/db" in found[0]
    allowed = {"postgresql": {"connectionSecret": {"name": "db", "namespace": "databases"}}}
    assert admission.problems(SETTINGS, _portal("a", database=allowed), None, {}) == []


def test_time_zone_is_checked() -> None:
    tenant = {**BODY["spec"]["tenant"], "timezone": "Mars/Olympus"}
    found = admission.problems(SETTINGS, _portal("a", tenant=tenant), None, {})
    assert found and "Mars/Olympus" in found[0]


def test_webhook_certificate_serves_tls_for_its_names(tmp_path: Path) -> None:
    settings = OperatorSettings(namespace="dokportal", webhook_url="https://127.0.0.1:9443")
    names = webhook.hosts(settings)
    bundle = webhook.generate(names)
    assert webhook.usable(bundle, names)
    assert not webhook.usable(bundle, [*names, "elsewhere.svc"])
    cert, key = webhook.files(bundle)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(cert), str(key))
    leaf = x509.load_pem_x509_certificate(bundle.cert)
    ca = x509.load_pem_x509_certificate(bundle.ca)
    leaf.verify_directly_issued_by(ca)
    assert "dokportal-operator.dokportal.svc" in names and "127.0.0.1" in names
