"""The operator's chart values through the real `helm template` (no cluster needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dokportal_operator import constants as c
from dokportal_operator import helm, render
from dokportal_operator.context import Context
from dokportal_operator.kube import WORKLOAD_KINDS
from dokportal_operator.settings import OperatorSettings
from tests.operator.unit.helpers import spec
from tests.support.cluster import K8S_VERSION, default_bin_dir
from tests.support.operator import PORTAL_CHART
from tests.support.services import unavailable


def _render(rewrap: bool) -> list[dict[str, object]]:
    binary = default_bin_dir() / "helm"
    if not binary.exists():
        unavailable("helm", "run hack/build-control-plane.sh")
    portal = spec()
    values = render.chart_values(
        portal, render.WorkloadFacts("bucket-x", "k-20261125-abcdef", rewrap)
    )
    objects = asyncio.run(
        helm.template(str(binary), PORTAL_CHART, portal.namespace, values, K8S_VERSION)
    )
    return render.workload(portal, objects)


def test_rendered_workload() -> None:
    objects = _render(rewrap=False)
    names = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)  # type: ignore[index]
    assert [n for n in names if not n.startswith("Job/")] == [
        "ConfigMap/portal-config",
        "Deployment/portal",
        "Ingress/portal",
        "NetworkPolicy/portal",
        "PodDisruptionBudget/portal",
        "Service/portal",
        # /metrics on its own Service, never behind the Ingress (charts/portal metrics.yaml).
        "Service/portal-metrics",
    ]
    jobs = [o for o in objects if render.is_job(o, c.MIGRATE_COMPONENT)]
    assert len(jobs) == 1
    for obj in objects:
        assert obj["metadata"]["namespace"] == "portal-viernheim"  # type: ignore[index]
        assert obj["metadata"]["labels"][c.PART_LABEL] == c.PART_WORKLOAD  # type: ignore[index]


@pytest.mark.parametrize(
    ("database", "rewrap"),
    [({"sqlite": {}}, False), ({"sqlite": {}}, True), (None, False), (None, True)],
)
def test_a_pass_lists_every_kind_the_chart_renders(
    database: dict[str, object] | None, rewrap: bool
) -> None:
    """Pruning looks only at WORKLOAD_KINDS: whatever the chart renders must be among them."""
    binary = default_bin_dir() / "helm"
    if not binary.exists():
        unavailable("helm", "run hack/build-control-plane.sh")
    overrides: dict[str, object] = {"spec__app__replicas": 1}
    if database is not None:
        overrides["spec__database"] = database
    portal = spec(**overrides)
    values = render.chart_values(portal, render.WorkloadFacts("bucket-x", "k-1", rewrap))
    objects = asyncio.run(
        helm.template(str(binary), PORTAL_CHART, portal.namespace, values, K8S_VERSION)
    )
    assert {str(obj["kind"]) for obj in objects} <= set(WORKLOAD_KINDS)


def test_rewrap_job_only_during_rotation() -> None:
    assert not [o for o in _render(rewrap=False) if render.is_job(o, c.REWRAP_COMPONENT)]
    jobs = [o for o in _render(rewrap=True) if render.is_job(o, c.REWRAP_COMPONENT)]
    assert [j["metadata"]["name"] for j in jobs] == ["portal-rewrap-k-20261125-abcdef"]  # type: ignore[index]


def test_render_failure_is_a_clear_stalled_reason() -> None:
    binary = default_bin_dir() / "helm"
    if not binary.exists():
        unavailable("helm", "run hack/build-control-plane.sh")
    portal = spec(spec__database={"sqlite": {}})  # two replicas with SQLite: the chart refuses
    values = render.chart_values(portal, render.WorkloadFacts("b", "k", rewrap=False))
    from dokportal_operator.errors import NeedsHuman

    with pytest.raises(NeedsHuman) as error:
        asyncio.run(helm.template(str(binary), PORTAL_CHART, portal.namespace, values, None))
    assert error.value.reason == "RenderFailed"
    assert "allows only one replica" in error.value.message


def test_render_runs_helm_again_only_for_new_values_or_a_changed_chart(tmp_path: Path) -> None:
    """A Portal's passes reuse its last render while values and chart stay the same."""
    runs = tmp_path / "runs"
    fake_helm = tmp_path / "helm"
    fake_helm.write_text(
        f'#!/bin/sh\necho run >> {runs}\necho "kind: ConfigMap"\necho "metadata: {{name: x}}"\n'
    )
    fake_helm.chmod(0o755)
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "templates" / "configmap.yaml").write_text("kind: ConfigMap\n")
    ctx = Context(
        kube=None,  # type: ignore[arg-type]
        settings=OperatorSettings(helm=str(fake_helm), chart=chart),
    )

    def render_with(values: dict[str, object], uid: str = "uid-1") -> None:
        assert asyncio.run(ctx.render_chart(uid, "portal-x", values)) == [
            {"kind": "ConfigMap", "metadata": {"name": "x"}}
        ]

    def helm_runs() -> int:
        return len(runs.read_text().splitlines())

    render_with({"replicaCount": 2})
    render_with({"replicaCount": 2})
    assert helm_runs() == 1
    render_with({"replicaCount": 3})
    assert helm_runs() == 2
    render_with({"replicaCount": 3}, uid="uid-2")  # another Portal renders its own
    assert helm_runs() == 3
    (chart / "templates" / "configmap.yaml").write_text("kind: ConfigMap # changed\n")
    render_with({"replicaCount": 3})
    assert helm_runs() == 4
    ctx.forget("uid-1")
    render_with({"replicaCount": 3})
    assert helm_runs() == 5


def test_virus_scan_renders_clamd_and_points_the_portal_at_it() -> None:
    binary = default_bin_dir() / "helm"
    if not binary.exists():
        unavailable("helm", "run hack/build-control-plane.sh")
    portal = spec(spec__virusScan={"enabled": True})
    values = render.chart_values(portal, render.WorkloadFacts("bucket-x", "k-1", False))
    objects = asyncio.run(
        helm.template(str(binary), PORTAL_CHART, portal.namespace, values, K8S_VERSION)
    )
    assert {str(obj["kind"]) for obj in objects} <= set(WORKLOAD_KINDS)
    names = {f"{o['kind']}/{o['metadata']['name']}" for o in objects}
    assert {
        "ConfigMap/portal-clamd",
        "Deployment/portal-clamd",
        "Service/portal-clamd",
        "NetworkPolicy/portal-clamd",
    } <= names
    config = next(o for o in objects if o["metadata"]["name"] == "portal-config")
    assert config["data"]["DOKPORTAL_SCAN__CLAMD"] == "tcp://portal-clamd:3310"
    # The portal's own selectors do not take in the clamd pods.
    web = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "portal"
    )
    clamd = next(
        o for o in objects if o["metadata"]["name"] == "portal-clamd" and o["kind"] == "Deployment"
    )
    web_selector = web["spec"]["selector"]["matchLabels"].items()
    assert not web_selector <= clamd["spec"]["template"]["metadata"]["labels"].items()

    off = render.chart_values(spec(), render.WorkloadFacts("bucket-x", "k-1", False))
    plain = asyncio.run(
        helm.template(str(binary), PORTAL_CHART, portal.namespace, off, K8S_VERSION)
    )
    assert not [o for o in plain if "clamd" in str(o["metadata"]["name"])]
    config = next(o for o in plain if o["metadata"]["name"] == "portal-config")
    assert "DOKPORTAL_SCAN__CLAMD" not in config["data"]
