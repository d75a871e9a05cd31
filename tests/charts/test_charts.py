"""Both charts: `helm lint --strict`, and `helm template` applied to the real API server with
a server-side dry-run (schemas, admission, Pod Security of a restricted namespace)."""

from __future__ import annotations

import filecmp
from typing import Any

import pytest
import yaml

from tests.support.cluster import K8S_VERSION, Cluster
from tests.support.kubeapi import Api, Obj
from tests.support.operator import CRDS, OPERATOR_CHART, PORTAL_CHART

pytestmark = pytest.mark.cluster

NS = "chart-dry-run"

PORTAL_VALUES: dict[str, list[str]] = {
    "defaults (folder + SQLite)": [],
    "s3 + postgresql, three replicas": [
        "storage.kind=s3",
        "storage.s3.endpoint=https://s3.example.org",
        "storage.s3.bucket=jc-viernheim",
        "storage.s3.existingSecret=s3",
        "database.kind=postgresql",
        "database.existingSecret=db",
        "replicaCount=3",
        "ingress.clusterIssuer=letsencrypt",
        "rewrap.enabled=true,keyring.primaryKeyId=k-2",
        "keyring.primaryKeyId=k-20261125-abcdef",
    ],
    "scheduling knobs, digest, dashboard": [
        "nodeSelector.kubernetes\\.io/os=linux",
        "tolerations[0].key=dedicated",
        "tolerations[0].operator=Exists",
        "tolerations[0].effect=NoSchedule",
        "priorityClassName=system-cluster-critical",
        "imagePullSecrets[0].name=registry",
        "podLabels.team=it",
        "podAnnotations.owner=it",
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "image.digest=sha256:" + "0" * 64,
        "metrics.grafanaDashboard.enabled=true",
    ],
    "virus scan (clamd + freshclam)": [
        "virusScan.enabled=true",
        "upload.maxFileMB=40",
        "virusScan.streamMaxMB=40",
    ],
}


def _template(cluster: Cluster, release: str, chart: str, *args: str) -> list[Obj]:
    out = cluster.helm(
        "template", release, chart, "--namespace", NS, "--kube-version", K8S_VERSION, *args
    )
    return [doc for doc in yaml.safe_load_all(out) if isinstance(doc, dict)]


@pytest.fixture(scope="module")
def namespace(api: Api, installed: Cluster) -> str:
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NS,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        }
    )
    return NS


@pytest.mark.parametrize("chart", [PORTAL_CHART, OPERATOR_CHART], ids=["portal", "operator"])
def test_lint_strict(control_plane: Cluster, chart: Any) -> None:
    out = control_plane.helm("lint", "--strict", "--kube-version", K8S_VERSION, str(chart))
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("values", PORTAL_VALUES.values(), ids=PORTAL_VALUES.keys())
def test_portal_chart_applies(api: Api, namespace: str, values: list[str]) -> None:
    sets = [arg for value in values for arg in ("--set", value)]
    objects = _template(api.cluster, "portal", str(PORTAL_CHART), *sets)
    kinds = sorted({obj["kind"] for obj in objects})
    assert {"ConfigMap", "Deployment", "Service", "Ingress", "Job", "NetworkPolicy"} <= set(kinds)
    assert "PodDisruptionBudget" in kinds
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
        api.apply(obj, dry_run=True)
        # The namespace enforces Pod Security "restricted": no pod template may violate it.
        assert not [w for w in api.last_warnings if "PodSecurity" in w], api.last_warnings


def test_portal_chart_refuses_sqlite_with_replicas(control_plane: Cluster) -> None:
    result = control_plane.run(
        "helm", "template", "p", str(PORTAL_CHART), "--set", "replicaCount=2", check=False
    )
    assert result.returncode != 0
    assert "database.kind=sqlite allows only one replica" in result.stderr


def test_operator_chart_applies(api: Api, namespace: str, control_plane: Cluster) -> None:
    objects = _template(control_plane, "dokportal-operator", str(OPERATOR_CHART), "--include-crds")
    kinds = [obj["kind"] for obj in objects]
    assert sorted(kinds) == sorted(
        [
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Service",
            "ValidatingWebhookConfiguration",
            "Role",
            "RoleBinding",
            "NetworkPolicy",
        ]
    )
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    for obj in objects:
        if obj["kind"] in {
            "ServiceAccount",
            "Deployment",
            "Service",
            "Role",
            "RoleBinding",
            "NetworkPolicy",
        }:
            obj["metadata"]["namespace"] = namespace
        api.apply(obj, dry_run=True)


def test_operator_rbac_is_least_privilege(control_plane: Cluster) -> None:
    objects = _template(control_plane, "dokportal-operator", str(OPERATOR_CHART))
    role = next(
        obj
        for obj in objects
        if obj["kind"] == "ClusterRole" and obj["metadata"]["name"] == "dokportal-operator"
    )
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert "*" not in {verb for verbs in granted.values() for verb in verbs}
    assert not {resource for _, resource in granted} & {"pods", "pods/exec", "nodes", "*"}
    assert "*" not in {group for group, _ in granted}
    # Cluster-wide: no Secrets at all, no namespace deletion, no writes of the workload kinds;
    # RBAC: its own RoleBindings, and `bind` of exactly the tenant ClusterRole.
    assert ("", "secrets") not in granted
    assert "delete" not in granted[("", "namespaces")]
    for key in (("apps", "deployments"), ("batch", "jobs"), ("", "configmaps")):
        assert granted[key] == {"get", "list", "watch"}, key
    rbac = "rbac.authorization.k8s.io"
    assert granted[(rbac, "rolebindings")] == {"get", "list", "create", "patch"}
    assert granted[(rbac, "roles")] == {"get", "list"}
    bind = [rule for rule in role["rules"] if "clusterroles" in rule["resources"]]
    assert bind == [
        {
            "apiGroups": [rbac],
            "resources": ["clusterroles"],
            "resourceNames": ["dokportal-operator-tenant"],
            "verbs": ["bind"],
        }
    ]
    tenant = next(obj for obj in objects if obj["metadata"]["name"] == "dokportal-operator-tenant")
    secrets = [rule for rule in tenant["rules"] if "secrets" in rule["resources"]]
    assert {"list", "watch"}.isdisjoint(secrets[0]["verbs"])


def test_chart_ships_the_same_crd(control_plane: Cluster) -> None:
    shipped = OPERATOR_CHART / "crds" / "portals.dokportal.dev.yaml"
    assert filecmp.cmp(shipped, CRDS / "portals.dokportal.dev.yaml", shallow=False)


def test_portal_accepts_the_charts_configuration(
    control_plane: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every DOKPORTAL_* variable the chart sets is one the portal's settings accept."""
    from dokportal.settings import Settings

    sets = [
        arg
        for value in PORTAL_VALUES["s3 + postgresql, three replicas"]
        for arg in ("--set", value)
    ]
    objects = _template(control_plane, "portal", str(PORTAL_CHART), *sets)
    config = next(obj for obj in objects if obj["kind"] == "ConfigMap")["data"]
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    secret_env = [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert sorted(secret_env) == [
        "DOKPORTAL_DATABASE_URL",
        "DOKPORTAL_SESSION_SECRET",
        "DOKPORTAL_STORAGE__S3_ACCESS_KEY",
        "DOKPORTAL_STORAGE__S3_SECRET_KEY",
    ]
    for name, value in config.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DOKPORTAL_DATABASE_URL", "postgresql://u:p@db:5432/portal")
    monkeypatch.setenv("DOKPORTAL_SESSION_SECRET", "s" * 40)
    monkeypatch.setenv("DOKPORTAL_STORAGE__S3_ACCESS_KEY", "AK")
    monkeypatch.setenv("DOKPORTAL_STORAGE__S3_SECRET_KEY", "SK")
    settings = Settings()
    assert settings.storage.kind == "s3" and settings.storage.s3_bucket == "jc-viernheim"
    assert settings.public_base_url == "https://portal.example.org"
    assert str(settings.keyring_path) == "/etc/dokportal/keyring/keyring.json"
    # fsGroup makes the mounted Secret group-readable (0440): allowed there, with a warning.
    assert settings.keyring_allow_shared is True
    assert settings.tenant.languages == ["de", "en", "uk", "ar", "tr", "ru", "fa"]
    # /metrics on the pod address (its own port), JSON logs for the collector.
    assert (settings.metrics.port, settings.metrics.host) == (9090, "0.0.0.0")  # noqa: S104
    assert settings.log.format == "json"


def test_portal_chart_refuses_a_clamd_limit_below_the_upload_limit(control_plane: Cluster) -> None:
    result = control_plane.run(
        "helm",
        "template",
        "p",
        str(PORTAL_CHART),
        "--set",
        "virusScan.enabled=true",
        "--set",
        "upload.maxFileMB=40",
        check=False,
    )
    assert result.returncode != 0
    assert "virusScan.streamMaxMB must be at least upload.maxFileMB" in result.stderr


def test_portal_accepts_the_virus_scan_configuration(
    control_plane: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart's clamd and the portal agree: address, port and stream limit."""
    from dokportal.settings import Settings

    sets = [a for v in PORTAL_VALUES["virus scan (clamd + freshclam)"] for a in ("--set", v)]
    objects = _template(control_plane, "portal", str(PORTAL_CHART), *sets)
    by_name = {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}
    for name, value in by_name[("ConfigMap", "portal-config")]["data"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DOKPORTAL_SESSION_SECRET", "s" * 40)
    settings = Settings()
    assert settings.scan.clamd == "tcp://portal-clamd:3310"
    assert settings.scan.stream_max_mb == 40 == settings.upload.max_file_mb
    service = by_name[("Service", "portal-clamd")]
    assert service["spec"]["ports"][0]["port"] == 3310
    clamd_conf = by_name[("ConfigMap", "portal-clamd")]["data"]["clamd.conf"]
    assert "StreamMaxLength 40M" in clamd_conf and "TCPSocket 3310" in clamd_conf
    # Only the portal's pods may reach clamd.
    policy = by_name[("NetworkPolicy", "portal-clamd")]["spec"]
    (rule,) = policy["ingress"]
    assert rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "portal"


def test_portal_pods_and_jobs_follow_the_placement(control_plane: Cluster) -> None:
    """nodeSelector and tolerations reach the Deployment and every Job (the migration Job
    must run where the volume is, on the same nodes as the pods)."""
    docs = _template(
        control_plane,
        "p",
        str(PORTAL_CHART),
        "--set",
        "nodeSelector.pool=sozial",
        "--set",
        "tolerations[0].key=pool,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule",
        "--set",
        "rewrap.enabled=true,keyring.primaryKeyId=k-2",
    )
    pods = [doc["spec"]["template"]["spec"] for doc in docs if doc["kind"] in ("Deployment", "Job")]
    assert len(pods) >= 3
    for pod in pods:
        assert pod["nodeSelector"] == {"pool": "sozial"}
        assert pod["tolerations"] == [{"key": "pool", "operator": "Exists", "effect": "NoSchedule"}]
