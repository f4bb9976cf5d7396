"""Property-based tests generated from the app's own OpenAPI schema: no 5xx, and answers that
match it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the `serve` extra is not installed")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings

from chronorec.serve.app import create_app
from tests.serve.conftest import API_KEY


def test_api_conforms_to_its_schema(run_dir: Path, tmp_path: Path) -> None:
    app = create_app(run_dir, db=tmp_path / "events.sqlite", api_key=API_KEY, max_batch=20)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10
    for operation in operations:
        # Every check: no server error, documented status codes, content types and bodies, valid
        # input accepted and invalid input refused. 30 examples per operation keep it to seconds.
        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"X-API-Key": API_KEY})

        check()
