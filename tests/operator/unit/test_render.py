"""Pure manifest building: Portal spec → namespace objects, Secrets, claim, chart values."""

from __future__ import annotations

import base64

from dokportal_operator import constants as c
from dokportal_operator import render
from tests.operator.unit.helpers import spec


def test_every_object_is_labelled_owned_and_placed() -> None:
    portal = spec()
    for obj in render.namespace_objects(portal):
        meta = obj["metadata"]
        assert meta["labels"][c.MANAGED_BY_LABEL] == "dokportal-operator"
        assert meta["labels"][c.PORTAL_LABEL] == "viernheim"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "dokportal.dev/v1alpha1",
                "kind": "Portal",
                "name": "viernheim",
                "uid": portal.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        if obj["kind"] == "Namespace":
            assert "namespace" not in meta
        else:
            assert meta["namespace"] == "portal-viernheim"


def test_namespace_is_restricted_and_denies_by_default() -> None:
    objects = {obj["kind"]: obj for obj in render.namespace_objects(spec())}
    labels = objects["Namespace"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert objects["NetworkPolicy"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
    }
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is False
    assert objects["ResourceQuota"]["spec"]["hard"]["pods"] == "8"  # 2 replicas: 2*2 + 4


def test_bucket_name_is_stable_and_unique_per_portal() -> None:
    assert render.bucket_name(spec()) == "dokportal-viernheim-0f1e2d3c"
    assert render.bucket_name(spec(metadata__uid="99999999-0000")) == "dokportal-viernheim-99999999"
    assert render.bucket_name(spec(spec__storage__s3__bucket="jc-vh")) == "jc-vh"
    volume = spec(spec__storage={"volume": {"size": "5Gi"}})
    assert render.bucket_name(volume) is None


def test_chart_values_follow_the_spec() -> None:
    facts = render.WorkloadFacts("dokportal-viernheim-0f1e2d3c", "k-20261125-aaaaaa", rewrap=False)
    values = render.chart_values(spec(), facts)
    assert values["image"] == {
        "repository": "registry.example.org/dokportal/portal",
        "tag": "1.2.3",
        "pullPolicy": "IfNotPresent",
    }
    assert values["tenant"]["languages"] == ["de", "en", "ar"]
    assert values["tenant"]["slug"] == "viernheim"
    assert values["storage"]["s3"]["existingSecret"] == c.S3_SECRET
    assert values["storage"]["s3"]["bucket"] == "dokportal-viernheim-0f1e2d3c"
    assert values["database"] == {
        "kind": "postgresql",
        "existingSecret": "portal-database",
        "urlKey": "url",
    }
    assert values["keyring"] == {
        "existingSecret": "portal-keyring",
        "primaryKeyId": "k-20261125-aaaaaa",
    }
    assert values["networkPolicy"]["egressPorts"] == [443, 5432, 8333]
    assert values["persistence"]["existingClaim"] == ""
    assert values["serviceAccount"] == {"create": False, "name": "portal"}


def test_image_without_tag() -> None:
    values = render.chart_values(
        spec(spec__app__image="registry:5000/portal"),
        render.WorkloadFacts(None, "k", rewrap=False),
    )
    assert values["image"]["repository"] == "registry:5000/portal"
    assert values["image"]["tag"] == "latest"


def test_sqlite_on_s3_gets_a_claim_of_its_own_size() -> None:
    portal = spec(spec__database={"sqlite": {"size": "2Gi"}}, spec__app__replicas=1)
    claim = render.claim(portal)
    assert claim is not None
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    values = render.chart_values(portal, render.WorkloadFacts("b", "k", rewrap=False))
    assert values["persistence"]["existingClaim"] == c.DATA_CLAIM
    assert render.claim(spec()) is None  # s3 + postgresql: nothing on a volume


def test_secret_values_are_encoded() -> None:
    body = render.secret(spec(), "portal-s3", {"access-key": "AK", "secret-key": "SK"}, "storage")
    assert body["data"] == {"access-key": "QUs=", "secret-key": "U0s="}
    assert base64.b64decode(body["data"]["secret-key"]) == b"SK"


def test_retained_keyring_has_no_owner() -> None:
    body = render.retained_keyring(spec(), "dokportal", '{"primary":"k"}', {"bucket": "b"})
    assert body["metadata"]["namespace"] == "dokportal"
    assert "ownerReferences" not in body["metadata"]
    assert body["metadata"]["annotations"] == {"dokportal.dev/bucket": "b"}
    assert body["metadata"]["labels"][c.RETAINED_FROM_LABEL] == "viernheim"


def test_fingerprint_ignores_key_order() -> None:
    assert render.fingerprint({"a": 1, "b": {"c": 2}}) == render.fingerprint(
        {"b": {"c": 2}, "a": 1}
    )


def test_foreign_additions_to_the_pod_template_are_found() -> None:
    from dokportal_operator.resources.workload import foreign_additions

    desired = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "portal", "env": [{"name": "A"}], "volumeMounts": []}],
                    "volumes": [{"name": "tmp"}],
                }
            }
        }
    }
    live = {
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {"runAsUser": 0},
                    "containers": [
                        {
                            "name": "portal",
                            "env": [{"name": "A"}, {"name": "EXTRA"}],
                            "securityContext": {"privileged": True},
                        },
                        {"name": "sidecar"},
                    ],
                    "volumes": [{"name": "tmp"}, {"name": "loot"}],
                }
            }
        }
    }
    paths = [op["path"] for op in foreign_additions(live, desired)]
    base = "/spec/template/spec"
    assert paths == [
        f"{base}/securityContext/runAsUser",
        f"{base}/containers/0/env/1",
        f"{base}/containers/0/securityContext/privileged",
        f"{base}/containers/1",
        f"{base}/volumes/1",
    ]
    assert foreign_additions(desired, desired) == []


def test_quota_covers_the_pods_of_the_spec_size() -> None:
    quota = render.namespace_objects(spec())[1]
    hard = quota["spec"]["hard"]
    assert hard["pods"] == "8"
    assert (hard["limits.cpu"], hard["limits.memory"]) == ("8", "4Gi")
    sized = spec(spec__app__resources={"requests": {"cpu": "250m"}, "limits": {"memory": "1.5Gi"}})
    hard = render.namespace_objects(sized)[1]["spec"]["hard"]
    assert (hard["requests.cpu"], hard["limits.memory"]) == ("2", "12Gi")
    kinds = [obj["kind"] for obj in render.namespace_objects(spec())]
    assert kinds == ["Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "ServiceAccount"]


def test_virus_scan_switch() -> None:
    """spec.virusScan turns on the chart's clamd; clamd's stream limit covers the uploads and
    the quota has room for its pod."""
    facts = render.WorkloadFacts("bucket-x", "k-1", rewrap=False)
    off = render.chart_values(spec(), facts)
    assert off["virusScan"]["enabled"] is False
    on_spec = spec(
        spec__virusScan={"enabled": True, "databaseMirror": "clamav-mirror.lan"},
        spec__app__upload={"maxFileMB": 60, "maxFiles": 5},
    )
    on = render.chart_values(on_spec, facts)
    assert on["virusScan"] == {
        "enabled": True,
        "streamMaxMB": 60,
        "databaseMirror": "clamav-mirror.lan",
    }

    def pods(portal: object) -> int:
        quota = next(o for o in render.namespace_objects(portal) if o["kind"] == "ResourceQuota")  # type: ignore[arg-type]
        return int(quota["spec"]["hard"]["pods"])

    assert pods(on_spec) == pods(spec()) + 2


def test_quota_has_room_for_clamd_pods() -> None:
    """clamd is much larger than a portal pod: the quota adds two of its size, not two
    portal pods, or the API server would refuse the clamd pod."""
    plain = render.namespace_objects(spec())[1]["spec"]["hard"]
    scanning = render.namespace_objects(spec(spec__virusScan={"enabled": True}))[1]["spec"]["hard"]
    assert render.quantity(scanning["limits.memory"]) - render.quantity(
        plain["limits.memory"]
    ) == 2 * render.quantity("3584Mi")
    assert render.quantity(scanning["requests.memory"]) - render.quantity(
        plain["requests.memory"]
    ) == 2 * render.quantity("1344Mi")


def test_placement_reaches_the_chart() -> None:
    """spec.app.nodeSelector/tolerations go to the chart (pods and Jobs), absent when unset."""
    facts = render.WorkloadFacts("bucket-x", "k-1", rewrap=False)
    assert "nodeSelector" not in render.chart_values(spec(), facts)
    placed = spec(
        spec__app__nodeSelector={"pool": "sozial"},
        spec__app__tolerations=[{"key": "pool", "operator": "Exists", "effect": "NoSchedule"}],
    )
    values = render.chart_values(placed, facts)
    assert values["nodeSelector"] == {"pool": "sozial"}
    assert values["tolerations"] == [{"key": "pool", "operator": "Exists", "effect": "NoSchedule"}]
