"""schemathesis over the studio's own /openapi.json, in-process (ASGI) against create_app(), signed in:
no operation answers 5xx to generated input, valid (positive) or not (negative). Bounded (a few examples
per operation and mode, derandomized so a CI failure reproduces) to stay near a minute; runs against
PostgreSQL, where out-of-range numbers and over-long text meet real column types."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.clients import auth_headers
from tests.spine.conftest import make_studio
from tests.spine.studio import Studio

EXAMPLES = 8


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    yield from make_studio("real", tmp_path_factory.mktemp("hard-schemathesis"))


@pytest.fixture(scope="module")
def app(studio: Studio, monkeypatch_module: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """schemathesis' in-process client always sends ``Host: testserver``: this app (and only it) also
    answers that name; the Host check itself stays (tests/users covers it)."""
    import json

    from app.settings import reset_settings_cache
    from app.web import create_app

    monkeypatch_module.setenv("FTSTUDIO_ALLOWED_HOSTS", json.dumps(["localhost", "127.0.0.1", "testserver"]))
    reset_settings_cache()
    try:
        application = create_app()
    finally:
        monkeypatch_module.undo()
        reset_settings_cache()
    yield application


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _operations(app):  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Server-sent events stream for as long as a job lives: not a request/response operation to fuzz.
    schema = schema.exclude(path_regex=r".*/events$")
    for result in schema.get_all_operations():
        yield result.ok()


def test_no_operation_answers_5xx(app) -> None:  # type: ignore[no-untyped-def]
    headers = auth_headers()
    failures: list[str] = []
    operations = list(_operations(app))
    assert len(operations) > 25, "the OpenAPI document lost its operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case) -> None:  # type: ignore[no-untyped-def]
                case.call_and_validate(headers=headers, checks=[not_a_server_error])

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, or only free-form strings)
            except Exception as exc:  # one report for all operations, not just the first failing one
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
