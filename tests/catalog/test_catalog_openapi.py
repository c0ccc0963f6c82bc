"""Schemathesis against the catalog service's own OpenAPI document: generated requests to every operation, with a
token, on a service of its own (the generated names must not land in the session's catalog). Every answer must be
documented (status, content type, body schema) and none may be a server error."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from lakehouse.catalog_client.process import credential, ensure_running, stop

pytestmark = pytest.mark.integration

EXAMPLES = 12  # per operation; ~20 operations
# The Iceberg bodies are documented as free-form objects (pyiceberg's models validate them), so "any object is
# schema-valid and must be accepted" does not hold; every other check runs (server errors, undocumented statuses,
# content types, response schemas, rejection of invalid data).
SKIPPED_CHECKS = [positive_data_acceptance]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    root: Path = tmp_path_factory.mktemp("openapi")
    state = root / "state"
    process = ensure_running(
        state, database_url=f"sqlite:///{root / 'catalog.db'}", warehouse=(root / "wh").as_uri(), timeout=60
    )
    client, _, secret = credential(state).partition(":")
    form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret}
    token = httpx.post(f"{process.uri}/v1/oauth/tokens", data=form).json()["access_token"]
    try:
        yield process.uri, {"Authorization": f"Bearer {token}"}
    finally:
        stop(state)


def test_every_operation_answers_as_documented(service: tuple[str, dict[str, str]]) -> None:
    uri, auth = service
    document: dict[str, Any] = httpx.get(f"{uri}/openapi.json", headers=auth).json()
    for code in ("400", "401", "403", "404", "409", "413"):
        assert any(code in op["responses"] for item in document["paths"].values() for op in item.values()), code
    schema = schemathesis.openapi.from_dict(document)
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:  # noqa: ANN401 - schemathesis' Case
            response = case.call_and_validate(base_url=uri, headers=auth, excluded_checks=SKIPPED_CHECKS)
            statuses[response.status_code] += 1

        check()
    served = sum(statuses.values())
    print(f"schemathesis: {operations} operations, {served} requests, statuses {dict(sorted(statuses.items()))}")
    assert operations >= 15 and served >= operations
    assert not [code for code in statuses if code >= 500], statuses
