"""The export API against its own OpenAPI schema (schemathesis): no server error, ever.

schemathesis generates requests from ``/schema/openapi.json`` — valid ones and, in its
negative mode, invalid ones — and sends them with a real API token to ``dokportal run`` as
a process (on SQLite and PostgreSQL). The check is ``not_a_server_error``; the API's 4xx
answers are part of its contract and tested in ``test_api.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.support import fuzzing
from tests.support.appliance import cli, running_appliance


@dataclass
class ApiServer:
    url: str
    token: str


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[ApiServer]:
    workdir = tmp_path_factory.mktemp("api-schema")
    env = {"DOKPORTAL_DATABASE_URL": database_url}
    with running_appliance(workdir, env=env) as app:
        made = cli(workdir, "token", "create", "--name", "schemathesis", "--scope", "read",
                   "--scope", "acknowledge", env=env)  # fmt: skip
        assert made.returncode == 0, made.stderr
        yield ApiServer(url=app.url, token=made.stdout.strip().splitlines()[-1])


def test_export_api_has_no_server_errors(api_server: ApiServer) -> None:
    """Every operation, valid and invalid inputs; schemathesis' own pytest loader does not
    work with pytest 9 (it sets a private node attribute), so the strategies are driven here."""
    schema = schemathesis.openapi.from_url(f"{api_server.url}/schema/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # an operation the schema cannot describe
        operations.append(result.ok())
    assert any(op.path.startswith("/api/v1/") for op in operations), operations
    headers = {"authorization": f"Bearer {api_server.token}"}
    for operation in operations:
        for mode in GenerationMode:
            _check(operation, mode, api_server.url, headers)


def _check(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    url: str,
    headers: dict[str, str],
) -> None:
    name = f"schemathesis {mode.value} {operation.method.upper()} {operation.path}"

    @settings(max_examples=fuzzing.scaled(25), derandomize=True, database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case[Any]) -> None:
        fuzzing.count(name)
        response = case.call(base_url=url, headers=headers)
        case.validate_response(response, checks=[not_a_server_error])

    check()
