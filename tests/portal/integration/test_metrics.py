"""/metrics on its own listener: parses as Prometheus text and moves when the portal works.

Labels carry route templates and bounded reasons, never the ids in a path or what a person
typed (the reference of a submission, a customer number).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dokportal.metrics import MetricsServer
from dokportal.settings import Settings
from tests.portal.conftest import PortalClient, activate, new_customer, sign_in
from tests.portal.integration.test_upload_rejects import post_files
from tests.support import documents

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def exporter() -> Iterator[MetricsServer]:
    server = MetricsServer.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        server.stop()


def scrape(server: MetricsServer) -> tuple[str, Samples]:
    text = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def test_counters_move_with_upload_failed_signin_and_404(
    client: PortalClient, settings: Settings, exporter: MetricsServer
) -> None:
    _, before = scrape(exporter)

    person = await new_customer(number="123A000777")
    assert (await activate(client, person)).status_code == 303
    body = documents.pdf()
    sent = await post_files(client, [("kontoauszug.pdf", body, "application/pdf")])
    assert sent.status_code == 303
    reference = sent.headers["location"].split("/")[2].split("?")[0]
    refused = await post_files(client, [("programm.exe", b"MZ\x90\x00" + b"\0" * 100, "x/y")])
    assert refused.status_code == 415
    assert (await client.get("/documents/NO-SUCH-REFERENCE")).status_code == 404
    assert (await client.get("/no/such/page")).status_code == 404

    async with PortalClient(client.app) as stranger:
        failed = await sign_in(stranger, person.number, "wrong-password-123")
        assert failed.status_code == 401

    text, after = scrape(exporter)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("dokportal_uploads_total") == 1
    assert delta("dokportal_upload_files_total") == 1
    assert delta("dokportal_upload_bytes_total") == len(body)
    assert delta("dokportal_upload_duration_seconds_count") == 1
    assert delta("dokportal_upload_rejections_total", reason="unsupported_type") == 1
    assert (
        total(after, "dokportal_signin_failures_total")
        - total(before, "dokportal_signin_failures_total")
        == 1
    )
    assert delta("dokportal_audit_events_total", action="submission.received") == 1
    # The receipt route by its template, the unknown path as "unmatched": no ids in labels.
    receipt = {"route": "/documents/{reference}", "method": "GET", "status": "404"}
    assert delta("dokportal_http_requests_total", **receipt) == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert delta("dokportal_http_requests_total", **unmatched) == 1
    upload = {"route": "/documents", "method": "POST", "status": "303"}
    assert delta("dokportal_http_requests_total", **upload) == 1
    assert (
        delta("dokportal_http_request_duration_seconds_count", route="/documents", method="POST")
        == 2
    )
    for secret in (reference, "NO-SUCH-REFERENCE", "/no/such/page", person.number, "kontoauszug"):
        assert secret not in text

    primary = client.app.state.runtime.keyring.primary_id
    assert value(after, "dokportal_keyring_key_info", key_id=primary, primary="true") == 1
    made = value(after, "dokportal_keyring_primary_created_timestamp_seconds")
    assert datetime.fromtimestamp(made, UTC).strftime("%Y%m%d") == primary.split("-")[1]


async def test_readiness_sets_dependency_gauges(
    client: PortalClient, exporter: MetricsServer
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    _, samples = scrape(exporter)
    for dependency in ("database", "storage", "keys"):
        assert value(samples, "dokportal_dependency_up", dependency=dependency) == 1


def test_metrics_are_off_unless_a_port_is_set() -> None:
    assert Settings().metrics.port == 0


async def test_mail_attempts_and_the_outbox(
    client: PortalClient, settings: Settings, exporter: MetricsServer
) -> None:
    from dokportal import tasks
    from dokportal.mail.services import enqueue
    from dokportal.storage.factory import build_store

    await enqueue(kind="reminder", recipient="someone@example.org", language="de")
    off = settings.model_copy(update={"mail": settings.mail.model_copy(update={"kind": "off"})})
    _, before = scrape(exporter)
    await tasks.run_once(off, build_store(off.storage))
    _, after = scrape(exporter)
    retrying = {"kind": "reminder", "result": "retrying"}
    assert (
        value(after, "dokportal_mail_total", **retrying)
        - value(before, "dokportal_mail_total", **retrying)
        == 1
    )
    assert value(after, "dokportal_mail_outbox", status="pending") == 1
    assert value(after, "dokportal_mail_outbox", status="failed") == 0
