"""The portal chart's monitoring: /metrics only on its own port and Service (never the
Ingress), the optional Prometheus Operator objects, the alert rules under promtool, and the
scheduling knobs.

The monitoring.coreos.com CRDs are not in the test cluster: ServiceMonitor, PodMonitor and
PrometheusRule are checked by rendering, `helm lint --strict` and promtool; everything else
in these renderings goes through the API server in tests/charts/test_charts.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cluster import K8S_VERSION, default_bin_dir
from tests.support.operator import OPERATOR_CHART, PORTAL_CHART
from tests.support.services import unavailable

REPO = Path(__file__).resolve().parents[2]
RULES_TEST = Path(__file__).with_name("alert_rules_test.yaml")
OPERATOR_RULES_TEST = Path(__file__).with_name("operator_alert_rules_test.yaml")
OPERATOR_ALERTS = {"DokportalPortalStalled", "DokportalOperatorFailing"}
MONITORING = [
    "metrics.serviceMonitor.enabled=true",
    "metrics.podMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.grafanaDashboard.enabled=true",
    "ingress.clusterIssuer=letsencrypt",
]
ALERTS = {
    "DokportalPortalNotReady",
    "DokportalDatabaseUnavailable",
    "DokportalStorageUnavailable",
    "DokportalKeysMissing",
    "DokportalUploadErrors",
    "DokportalMailFailing",
    "DokportalMailPilingUp",
    "DokportalWorkerStalled",
    "DokportalKeyRotationOverdue",
    "DokportalCertificateExpiring",
}


def helm(*args: str) -> str:
    binary = default_bin_dir() / "helm"
    if not os.access(binary, os.X_OK):
        unavailable("helm", f"{binary} missing (make control-plane)")
    result = subprocess.run([str(binary), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(*sets: str, namespace: str = "jc") -> list[dict[str, Any]]:
    args = [arg for value in sets for arg in ("--set", value)]
    out = helm(
        "template", "portal", str(PORTAL_CHART), "--namespace", namespace,
        "--kube-version", K8S_VERSION, *args,
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(out) if isinstance(doc, dict)]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


@pytest.fixture(scope="session")
def promtool() -> Path:
    """promtool from hack/build-promtool.sh (cached; `make promtool` builds it)."""
    script = REPO / "hack" / "build-promtool.sh"
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        unavailable("promtool", "no Go toolchain to build it")
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        unavailable("promtool", result.stderr[-2000:])
    return Path(result.stdout.strip().splitlines()[-1])


def test_lint_strict_with_everything_enabled() -> None:
    sets = [arg for value in MONITORING for arg in ("--set", value)]
    out = helm("lint", "--strict", "--kube-version", K8S_VERSION, str(PORTAL_CHART), *sets)
    assert "0 chart(s) failed" in out


def test_monitoring_objects_are_off_by_default_and_metrics_on() -> None:
    objects = render()
    kinds = {obj["kind"] for obj in objects}
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    assert "portal-dashboard" not in {obj["metadata"]["name"] for obj in objects}
    config = next(obj for obj in objects if obj["metadata"]["name"] == "portal-config")["data"]
    assert config["DOKPORTAL_METRICS__PORT"] == "9090"
    assert config["DOKPORTAL_LOG__FORMAT"] == "json"
    disabled = render("metrics.enabled=false")
    config = next(obj for obj in disabled if obj["metadata"]["name"] == "portal-config")["data"]
    assert "DOKPORTAL_METRICS__PORT" not in config
    assert "portal-metrics" not in {obj["metadata"]["name"] for obj in disabled}


def test_metrics_port_never_reaches_the_ingress() -> None:
    objects = render(*MONITORING)
    (ingress,) = by_kind(objects, "Ingress")
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"portal"}
    main = next(obj for obj in by_kind(objects, "Service") if obj["metadata"]["name"] == "portal")
    assert [port["targetPort"] for port in main["spec"]["ports"]] == ["http"]
    metrics = next(
        obj for obj in by_kind(objects, "Service") if obj["metadata"]["name"] == "portal-metrics"
    )
    assert [(p["port"], p["targetPort"]) for p in metrics["spec"]["ports"]] == [(9090, "metrics")]
    # The NetworkPolicy opens 9090 to the scrape namespace only, 8000 to the ingress controller.
    (policy,) = [p for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"] == "portal"]
    opened = {
        (
            rule["ports"][0]["port"],
            rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        )
        for rule in policy["spec"]["ingress"]
    }
    assert opened == {(8000, "ingress-nginx"), (9090, "monitoring")}
    (deployment,) = by_kind(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8000,
        "metrics": 9090,
    }
    (monitor,) = by_kind(objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    selected = monitor["spec"]["selector"]["matchLabels"].items()
    assert selected <= metrics["metadata"]["labels"].items()
    assert ("app.kubernetes.io/component", "metrics") in selected
    (pod_monitor,) = by_kind(objects, "PodMonitor")
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_dashboard_is_valid_json_on_portal_metrics() -> None:
    import json

    objects = render(*MONITORING)
    (dashboard,) = [obj for obj in objects if obj["metadata"]["name"] == "portal-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    parsed = json.loads(dashboard["data"]["dokportal.json"])
    exprs = [target["expr"] for panel in parsed["panels"] for target in panel["targets"]]
    assert exprs and all("dokportal_" in expr for expr in exprs)


def _write_rules(tmp_path: Path) -> Path:
    (rule,) = by_kind(render(*MONITORING), "PrometheusRule")
    alerts = {item["alert"] for group in rule["spec"]["groups"] for item in group["rules"]}
    assert alerts == ALERTS
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            assert item["annotations"]["runbook_url"].endswith("#" + item["alert"].lower())
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    return rules


def test_promtool_checks_the_rules(promtool: Path, tmp_path: Path) -> None:
    rules = _write_rules(tmp_path)
    result = subprocess.run(
        [str(promtool), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout + result.stderr


def test_promtool_fires_every_alert(promtool: Path, tmp_path: Path) -> None:
    _write_rules(tmp_path)
    tested = yaml.safe_load(RULES_TEST.read_text())
    fired = {
        case["alertname"]
        for test in tested["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == ALERTS
    result = subprocess.run(
        [str(promtool), "test", "rules", RULES_TEST.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _write_operator_rules(tmp_path: Path) -> Path:
    out = helm(
        "template", "dokportal-operator", str(OPERATOR_CHART), "--namespace", "dokportal",
        "--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.podMonitor.enabled=true",
    )  # fmt: skip
    objects = [doc for doc in yaml.safe_load_all(out) if isinstance(doc, dict)]
    (rule,) = by_kind(objects, "PrometheusRule")
    (monitor,) = by_kind(objects, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    alerts = {item["alert"] for group in rule["spec"]["groups"] for item in group["rules"]}
    assert alerts == OPERATOR_ALERTS
    rules = tmp_path / "operator_rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(OPERATOR_RULES_TEST, tmp_path / OPERATOR_RULES_TEST.name)
    return rules


def test_promtool_checks_and_fires_the_operator_rules(promtool: Path, tmp_path: Path) -> None:
    rules = _write_operator_rules(tmp_path)
    checked = subprocess.run(
        [str(promtool), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = yaml.safe_load(OPERATOR_RULES_TEST.read_text())
    fired = {
        c["alertname"] for t in tested["tests"] for c in t["alert_rule_test"] if c["exp_alerts"]
    }
    assert fired == OPERATOR_ALERTS
    result = subprocess.run(
        [str(promtool), "test", "rules", OPERATOR_RULES_TEST.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runbook_has_a_section_per_alert() -> None:
    runbook = (REPO / "docs" / "operations.md").read_text()
    for alert in ALERTS | OPERATOR_ALERTS:
        assert f"### {alert}" in runbook, alert


KNOBS = [
    "nodeSelector.disk=ssd",
    "tolerations[0].key=dedicated",
    "tolerations[0].operator=Exists",
    "priorityClassName=portal-high",
    "imagePullSecrets[0].name=registry",
    "podLabels.team=it",
    "podAnnotations.owner=it",
    "topologySpreadConstraints[0].maxSkew=1",
    "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
    "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    ".nodeSelectorTerms[0].matchExpressions[0].key=zone",
    "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    ".nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
    "image.digest=sha256:" + "a" * 64,
]


def test_scheduling_knobs_reach_web_pods_and_jobs() -> None:
    objects = render(*KNOBS)
    scan = render(*KNOBS, "virusScan.enabled=true")
    (deployment,) = by_kind(objects, "Deployment")
    template = deployment["spec"]["template"]
    for pod in [template["spec"]] + [
        job["spec"]["template"]["spec"] for job in by_kind(objects, "Job")
    ]:
        assert pod["nodeSelector"] == {"disk": "ssd"}
        assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
        assert pod["priorityClassName"] == "portal-high"
        assert pod["imagePullSecrets"] == [{"name": "registry"}]
        assert "nodeAffinity" in pod["affinity"]
        assert pod["containers"][0]["image"] == "ghcr.io/dokportal/portal@sha256:" + "a" * 64
    # clamd runs on the same nodes and registry, without the portal pods' affinity.
    (clamd,) = [d for d in by_kind(scan, "Deployment") if d["metadata"]["name"] == "portal-clamd"]
    clamd_pod = clamd["spec"]["template"]["spec"]
    assert clamd_pod["nodeSelector"] == {"disk": "ssd"}
    assert clamd_pod["imagePullSecrets"] == [{"name": "registry"}]
    assert "affinity" not in clamd_pod
    assert template["metadata"]["labels"]["team"] == "it"
    # The chart's own annotations stay beside the user's.
    assert {"owner", "checksum/config"} <= set(template["metadata"]["annotations"])
    (spread,) = template["spec"]["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_schema_refuses_a_bad_digest_and_the_portal_port_for_metrics() -> None:
    binary = default_bin_dir() / "helm"
    if not os.access(binary, os.X_OK):
        unavailable("helm", f"{binary} missing (make control-plane)")
    for bad in ("image.digest=latest", "metrics.port=8000"):
        result = subprocess.run(
            [str(binary), "template", "p", str(PORTAL_CHART), "--set", bad],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0, bad
