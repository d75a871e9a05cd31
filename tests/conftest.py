"""Session-wide services the suite runs against for real, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import find_bindir, running_postgres
from tests.support.services import unavailable


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster from Debian's packages (fails in CI when missing)."""
    if find_bindir() is None:
        unavailable("PostgreSQL", "initdb not found; run `make system-deps`")
    with running_postgres() as url:
        yield url
