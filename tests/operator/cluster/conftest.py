"""One real control plane per session (etcd, apiserver, controllers, kwok), the operator's
chart installed, and the operator running with the chart's RBAC as its only rights."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import (
    OPERATOR_NAMESPACE,
    Cluster,
    default_bin_dir,
    missing_binaries,
    run_cluster,
)
from tests.support.kubeapi import Api
from tests.support.operator import OperatorProcess, install
from tests.support.seaweed import SeaweedS3
from tests.support.services import unavailable

S3_SECRET = "s3-credentials"
PG_SECRET = "tenant-database"


@pytest.fixture(scope="session")
def control_plane() -> Iterator[Cluster]:
    bin_dir = default_bin_dir()
    missing = missing_binaries(bin_dir)
    if missing:
        unavailable(
            "the Kubernetes control plane",
            f"{', '.join(missing)} missing in {bin_dir}; run hack/build-control-plane.sh",
        )
    # Rewrap Jobs are held: the rotation test decides when one succeeds.
    with run_cluster(bin_dir, hold_job_components=("rewrap",)) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def api(control_plane: Cluster) -> Iterator[Api]:
    client = Api(control_plane)
    yield client
    client.close()


@pytest.fixture(scope="session")
def installed(control_plane: Cluster) -> Cluster:
    """CRD and the operator chart's ServiceAccount, ClusterRole and binding."""
    install(control_plane)
    return control_plane


@pytest.fixture(scope="session")
def operator(
    installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        installed, tmp_path_factory.mktemp("operator") / "operator.log", resync_seconds=30
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def credentials(api: Api, installed: Cluster, seaweed: SeaweedS3) -> SeaweedS3:
    """The tenant credentials county IT would create next to the operator."""
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": S3_SECRET, "namespace": OPERATOR_NAMESPACE},
            "stringData": {"access-key": seaweed.access_key, "secret-key": seaweed.secret_key},
        }
    )
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": PG_SECRET, "namespace": OPERATOR_NAMESPACE},
            "stringData": {"url": "postgresql://portal:pw@postgres.databases:5432/portal"},
        }
    )
    return seaweed
