"""The OpenAPI document: problem+json errors, 304s, CSV and examples on every operation."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.errors import PROBLEM_JSON
from app.schemas import Problem

DESCRIPTION = """\
Economic-policy facts: the articles they come from, the indicators they measure and the
sectors they concern. Every observation carries the exact sentence it was taken from, as
offsets into the article body.

Conventions: lists answer `{items, total, next_cursor}` with a `Link: rel="next"` header;
`cursor` is opaque; every GET has a strong `ETag` (send `If-None-Match` for a 304);
errors are `application/problem+json` (RFC 9457).
"""

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_ERRORS = {
    "400": "A cursor this server did not issue for this query.",
    "404": "No such resource.",
    "422": "Invalid parameters: `errors` lists each one.",
    "503": "The database is unavailable.",
}
_CSV_OPERATIONS = {"list_observations", "list_indicator_observations"}


def operation_id(route: APIRoute) -> str:
    """Stable snake_case operation ids: the route's name (`list_indicators`, ...)."""
    return route.name


def build(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=DESCRIPTION,
        routes=app.routes,
        tags=app.openapi_tags,
        # Relative: the server that serves this document (linters and SDK generators want
        # `servers`; without it they warn or guess).
        servers=[{"url": "/"}],
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            _document(path, method, operation)
    app.openapi_schema = schema
    return schema


def _document(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    wanted = ["422", "503"]
    if "{" in path:
        wanted.append("404")
    if any(p.get("name") == "cursor" for p in operation.get("parameters", [])):
        wanted.append("400")
    for status in sorted(wanted):
        responses[status] = {
            "description": _ERRORS[status],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
    if method == "get":
        # Reads are public: say so with an empty requirement (`security: []`) rather than by
        # omission, which linters flag. Writes declare the bearer key they need.
        operation.setdefault("security", [])
    if method == "get" and path.startswith("/v1/"):
        ok = responses["200"]
        ok["headers"] = {
            "ETag": {"description": "Strong validator of the body.", "schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}},
        }
        if "next_cursor" in str(ok):
            ok["headers"]["Link"] = {
                "description": 'The next page: `<url>; rel="next"`, while there is one.',
                "schema": {"type": "string"},
            }
        responses["304"] = {"description": "Not modified: `If-None-Match` holds the current ETag."}
    if operation.get("operationId") in _CSV_OPERATIONS:
        responses["200"]["content"]["text/csv"] = {
            "schema": {"type": "string"},
            "example": "id,indicator,period,kind,value,comparator,unit,value_text,article,quote,"
            "start,end\r\n",
        }
