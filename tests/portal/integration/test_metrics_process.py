"""The real process (`dokportal run`): /metrics answers on its own port, started by the app's
lifespan, and not on the portal's port."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.appliance import free_port, running_appliance


@pytest.mark.timeout(120)
def test_metrics_listener_beside_the_portal(tmp_path: Path) -> None:
    port = free_port()
    env = {"DOKPORTAL_METRICS__PORT": str(port), "DOKPORTAL_LOG__FORMAT": "json"}
    with running_appliance(tmp_path, env=env) as app:
        assert httpx.get(f"{app.url}/readyz").status_code == 200
        assert httpx.get(f"{app.url}/metrics").status_code == 404
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    ready = (("method", "GET"), ("route", "/readyz"), ("status", "200"))
    assert samples[("dokportal_http_requests_total", ready)] >= 2
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("dokportal_http_requests_total", unmatched)] == 1
    for dependency in ("database", "storage", "keys"):
        assert samples[("dokportal_dependency_up", (("dependency", dependency),))] == 1
