"""Schema-driven fuzzing of the HTTP API (schemathesis, in process over ASGI): no input yields a 500.

Every operation of ``/api/v1/openapi.json`` gets a few generated requests,
valid (positive) and invalid (negative) ones (``max_examples`` keeps the run short); the only check is
``not_a_server_error``. Skipped when schemathesis is not installed.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from tests.security.conftest import TOKEN, TestClient  # noqa: E402
from tests.server.factory import window  # noqa: E402


@pytest.fixture
def api_schema(settings):
    """The app's own OpenAPI schema, bound to the app (its collector opened by the lifespan)."""
    import vigil
    from vigil.server.app import create_app
    from vigil.server.config import ServerConfig

    app = create_app(ServerConfig(token=TOKEN, alert_channels=(), jsonl=False, anomaly=False), settings)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert client.post("/api/v1/windows", json=window("a", 0), headers=auth).status_code == 201
        with vigil.runtime.experiment("exp") as exp:
            exp.log_metric("m", 1.0)
            exp.log_artifact(b"x", "a")
        vigil.jobs.put("print(1)", "j")
        yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, headers=auth)


def test_no_request_is_a_server_error(api_schema):
    # schemathesis.pytest.from_fixture does not run on pytest 9 ('Function' has no '_nodeid'): the
    # operations are walked here, each with its own hypothesis run
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in [(op, mode) for op in operations for mode in modes]:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=15, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            if case.operation.path == "/api/v1/ui/jobs/run":
                case.query = {"name": "j"}  # runs a real subprocess: one known job
            case.call_and_validate(checks=[not_a_server_error], headers={"Authorization": f"Bearer {TOKEN}"})

        try:
            check()
        except Unsatisfiable:  # no parameters and no body: no invalid request to make
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.path
