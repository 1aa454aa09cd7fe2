"""The OpenAPI document: problem+json errors, 304s, CSV and examples on every operation."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.errors import PROBLEM_JSON
from app.schemas import Bundle, Problem

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
    "401": "No API key, or not a valid one (`WWW-Authenticate: Bearer`).",
    "404": "No such resource.",
    "409": "A slug already taken, or facts that depend on the resource.",
    "412": "`If-Match` is not the resource's current ETag: GET it again.",
    "413": "The request body is too large.",
    "415": "The body is not JSON (a PATCH takes application/merge-patch+json or json).",
    "422": "Invalid input: `errors` lists each problem with its place.",
    "428": "`If-Match` is missing: PATCH needs the resource's ETag.",
    "503": "The database is unavailable; retry after `Retry-After` seconds.",
}
# The errors each kind of write can answer, besides 422 and 503.
_WRITE_ERRORS = {
    "post": ["401", "409", "413"],
    "patch": ["401", "409", "412", "413", "415", "428"],
    "delete": ["401"],
}
_CSV_OPERATIONS = {"list_observations", "list_indicator_observations"}
_ETAG = {
    "description": "Strong validator of the body: send it in `If-None-Match` and get "
    "`304 Not Modified`, with no body, while it is current; `If-Match` of a PATCH takes it.",
    "required": True,
    "schema": {"type": "string"},
}
_CACHE_CONTROL = {
    "required": True,
    "schema": {"type": "string"},
    "example": "public, max-age=60",
}
_REFUSED_DELETES = {"delete_article", "delete_indicator"}


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
    # The bundle an import takes: its route reads the body itself (app.routers.imports).
    # Written as FastAPI writes the models of a request body: no `default: null`.
    bundle = Bundle.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in [*bundle.pop("$defs", {}).items(), ("Bundle", bundle)]:
        for field in definition.get("properties", {}).values():
            if "default" in field and field["default"] is None:
                del field["default"]
        components.setdefault(name, definition)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            _document(path, method, operation)
    app.openapi_schema = schema
    return schema


def _document(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    wanted = list(_WRITE_ERRORS.get(method, []))
    if path.startswith("/v1/") or path == "/readyz":
        wanted.append("503")
    if operation.get("parameters") or operation.get("requestBody"):
        wanted.append("422")
    if "{" in path:
        wanted.append("404")
    if any(p.get("name") == "cursor" for p in operation.get("parameters", [])):
        wanted.append("400")
    if operation["operationId"] in _REFUSED_DELETES:
        wanted.append("409")
    if operation["operationId"] == "create_import":
        wanted.remove("409")
    for status in sorted(set(wanted)):
        responses[status] = {
            "description": _ERRORS[status],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
    if "401" in responses:
        responses["401"]["headers"] = {
            "WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}}
        }
    if method == "post" and "201" in responses:
        responses["201"]["headers"] = {
            "Location": {
                "description": "The URL of the new resource.",
                "required": True,
                "schema": {"type": "string"},
            },
            "ETag": _ETAG,
        }
    if method == "patch":
        responses["200"]["headers"] = {"ETag": _ETAG}
    if method == "get":
        # Reads are public: say so with an empty requirement (`security: []`) rather than by
        # omission, which linters flag. Writes declare the bearer key they need.
        operation.setdefault("security", [])
    if method == "get" and path.startswith("/v1/"):
        # Conditional GETs (API.md): If-None-Match with the current tag is a 304, no body.
        operation.setdefault("parameters", []).append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "ETags the client holds (or `*`): while one is current the "
                "answer is `304 Not Modified` with no body.",
                "schema": {"type": "string"},
            }
        )
        ok = responses["200"]
        ok["headers"] = {"ETag": _ETAG, "Cache-Control": _CACHE_CONTROL}
        responses["304"] = {
            "description": "Not Modified: the ETag in `If-None-Match` is current; no body.",
            "headers": {"ETag": _ETAG, "Cache-Control": _CACHE_CONTROL},
        }
        if "Page" in str(ok["content"]["application/json"]["schema"]):
            ok["headers"]["Link"] = {
                "description": 'The next page: `<url>; rel="next"`, while there is one.',
                "schema": {"type": "string"},
            }
    if operation["operationId"] in _CSV_OPERATIONS:
        responses["200"]["content"]["text/csv"] = {
            "schema": {"type": "string"},
            "example": "id,indicator,period,kind,value,comparator,unit,value_text,article,quote,"
            "start,end\r\n",
        }
