"""The operator running with the chart's RBAC as its only rights, and the credentials a
county admin would put next to it (the control plane comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster import OPERATOR_NAMESPACE, Cluster
from tests.support.kubeapi import Api
from tests.support.operator import OperatorProcess
from tests.support.seaweed import SeaweedS3

S3_SECRET = "s3-credentials"
PG_SECRET = "tenant-database"


@pytest.fixture(scope="session")
def operator(
    installed: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        installed,
        tmp_path_factory.mktemp("operator") / "operator.log",
        resync_seconds=30,
        # Every pass checks the bucket (and its owner marker): a bucket deleted behind the
        # operator is found at the next pass, not ten minutes later.
        extra_env={"DOKPORTAL_OPERATOR_STORAGE_RECHECK_SECONDS": "0"},
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
