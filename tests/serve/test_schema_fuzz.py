"""Schemathesis against the OpenAPI schema (a bounded number of examples per operation): no
server errors, every response as the schema says, and requests that break the schema refused.
Left out: training jobs (each example would start a training process; test_api.py covers their
routes) and the check that every schema-valid request succeeds — class names, attribute ranges
and image bytes are the model's and the file's, beyond what a schema can say, and are refused
with a 400 and a message."""

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402


@pytest.fixture
def api_schema(served_model, tmp_path):
    from ganstudio.serve.app import Settings, create_app

    app = create_app(
        Settings(
            models=[str(served_model)],
            runs_dir=tmp_path / "runs",
            requests_per_minute=10**6,
            allowed_hosts=["testserver"],  # the host name schemathesis sends
        )
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.exclude(path_regex="^/v1/jobs").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_fuzz(case):
    from schemathesis.checks import positive_data_acceptance

    case.call_and_validate(excluded_checks=[positive_data_acceptance])
