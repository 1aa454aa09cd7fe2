"""Schemathesis against /openapi.json: every operation, reads and writes, with a valid key.

Each operation gets two tests: its coverage cases (boundary values, missing and wrong
parameters, undocumented methods; deterministic) and property-based fuzzing, valid and
invalid input, some of it aimed at resources that exist. Every request carries a valid
`Authorization: Bearer` key. Every response must be documented: no 5xx, a status code,
content type, body and headers the document lists for that operation.

Schemathesis runs the real app in-process (ASGI), its sessions bound to the test's connection
(the `app` fixture); each request runs in a savepoint that is rolled back, so that no case
sees what another wrote and nothing leaks into other tests. Runs on both backends.

To reproduce a failure, the report gives a curl command and Hypothesis the example; the runs
are derandomized, so the same code finds the same failure again.
"""

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    CheckContext,
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.core.failures import FailureGroup
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from app.auth import create_key
from app.config import Settings
from app.main import create_app
from app.models import Article, Indicator, Observation, Sector

# Examples per operation in the fuzzing phase (coverage cases come on top, as many as needed).
MAX_EXAMPLES = 20
SEED = 20240305
# The statuses that refuse invalid input, all documented: a PATCH may be refused for its
# If-Match (412) before anything else is wrong with it.
REFUSALS = ["400", "401", "404", "405", "409", "412", "413", "415", "422", "428"]


def _served_document() -> dict[str, Any]:
    """/openapi.json as the app serves it (it needs no database): fetched once, as loading
    it from each test's app would cost a third of a second a test."""
    with TestClient(create_app(Settings(database_url="sqlite://"))) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    return document


DOCUMENT = _served_document()
OPERATIONS = [op["operationId"] for ops in DOCUMENT["paths"].values() for op in ops.values()]


def reads_accept_valid_input(ctx: CheckContext, response: Any, case: Case) -> bool | None:
    """positive_data_acceptance, for reads: a query the document allows is answered (2xx,
    3xx or 404). Not for writes, whose bodies must also name things that exist, and not with
    a `cursor`, which is any string to the document but only what the server issued to it."""
    if case.method == "GET" and "cursor" not in (case.query or {}):
        return positive_data_acceptance(ctx, response, case)
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    ignored_auth,
    reads_accept_valid_input,
]


@pytest.fixture
def key(session: Session) -> str:
    key = create_key(session, name="schemathesis")
    session.flush()
    return key


@pytest.fixture
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    """The document, its requests sent to this test's app in-process (ASGI)."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"deterministic": True, "database": "none"},
            "checks": {
                # If-Match is required by PATCH: without it the contract's answer is 428.
                "missing_required_header": {
                    "expected-statuses": ["400", "401", "406", "415", "422", "428"]
                },
                "negative_data_rejection": {"expected-statuses": REFUSALS},
            },
            "cache": {"enabled": False},
        }
    )
    schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=config)
    schema.app = app
    return schema


@pytest.fixture
def existing(session: Session) -> dict[str, list[Any]]:
    """Path parameter values that name resources of the seed, by path prefix."""
    return {
        "/v1/articles/": list(session.scalars(select(Article.slug))),
        "/v1/sectors/": list(session.scalars(select(Sector.slug))),
        "/v1/indicators/": list(session.scalars(select(Indicator.slug))),
        "/v1/observations/": list(session.scalars(select(Observation.id))),
    }


def operation(schema: schemathesis.BaseSchema, operation_id: str) -> schemathesis.APIOperation:
    for result in schema.get_all_operations():
        found = result.ok()
        if found.definition.raw.get("operationId") == operation_id:
            return found
    raise LookupError(operation_id)


@pytest.fixture
def send(connection: Connection, client: TestClient, key: str) -> Iterator[Callable[[Case], None]]:
    """Sends a case with the key and validates its answer, in a savepoint then rolled back."""
    auth = {"Authorization": f"Bearer {key}"}

    def send_case(case: Case) -> None:
        savepoint = connection.begin_nested()
        try:
            if case.method == "PATCH" and _is_positive(case):
                _send_current_etag(client, case)
            case.call_and_validate(headers=auth, checks=CHECKS)
        finally:
            savepoint.rollback()

    yield send_case


def _is_positive(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def _send_current_etag(client: TestClient, case: Case) -> None:
    """Valid PATCHes carry the resource's current tag, as a client would, so that they can
    succeed; other cases keep the If-Match they were generated with (a 412 or a 428)."""
    current = client.get(case.formatted_path)
    if current.status_code == 200:
        case.headers = {**(case.headers or {}), "If-Match": current.headers["etag"]}


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_coverage(
    api_schema: schemathesis.BaseSchema, send: Callable[[Case], None], operation_id: str
) -> None:
    """Schemathesis's coverage phase: boundaries, missing and invalid parameters, methods."""
    cases = api_schema.iter_coverage_cases(
        operation(api_schema, operation_id),
        generation_modes=list(GenerationMode),
        generation_config=api_schema.config.generation,
    )
    failures = []
    for case in cases:
        try:
            send(case)
        except FailureGroup as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_fuzzing(
    api_schema: schemathesis.BaseSchema,
    existing: dict[str, list[Any]],
    send: Callable[[Case], None],
    operation_id: str,
) -> None:
    """Schemathesis's fuzzing phase: valid and invalid input, and valid input for resources
    that exist (a random slug is a 404, which would leave the rest of a write untried)."""
    target = operation(api_schema, operation_id)
    strategies = [target.as_strategy(mode) for mode in GenerationMode]
    names = [p["name"] for p in target.definition.raw.get("parameters", []) if p["in"] == "path"]
    for prefix, values in existing.items():
        if names and target.path.startswith(prefix) and values:
            strategies.append(
                st.sampled_from(values).flatmap(
                    lambda value: target.as_strategy(
                        GenerationMode.POSITIVE, path_parameters={names[0]: value}
                    )
                )
            )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def fuzz(case: Case) -> None:
        send(case)

    fuzz()
