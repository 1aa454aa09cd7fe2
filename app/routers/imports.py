"""Imports: a whole bundle of articles, sectors, indicators and observations at once."""

import email.message
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.auth import WriteKey
from app.bundle_file import validated_items
from app.db import writing
from app.errors import Invalid, validation_errors
from app.importer import load_bundle
from app.routing import Route
from app.schemas import Bundle, ImportResult, ObservationImport
from app.writes import retried

router = APIRouter(prefix="/v1/imports", tags=["imports"], route_class=Route)

# The body is read by the route itself, so that it is parsed on a worker thread: FastAPI
# parses a body on the event loop, where a bundle of 100,000 observations held up every
# other request for a second and a half. The document still says what it takes.
BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Bundle"}}},
    }
}


@router.post(
    "",
    name="create_import",
    response_model=ImportResult,
    dependencies=[WriteKey],
    openapi_extra=BUNDLE_BODY,
)
async def create_import(request: Request) -> Response:
    """Load a bundle in one transaction: all of it, or with any error none of it.

    Items are matched by slug (observations by indicator, period, kind and article): the same
    bundle twice changes nothing, an edited bundle updates in place, also when two loads
    overlap. A 422 lists every error with its place in the bundle.
    """
    body = await request.body()
    bundle = await run_in_threadpool(read_bundle, body, request.headers.get("content-type"))
    result = await run_in_threadpool(_load, request, bundle)
    return Response(result.model_dump_json(), media_type="application/json")


def _load(request: Request, bundle: Bundle) -> ImportResult:
    with writing(request) as session:
        return _load_in(session, bundle)


@retried
def _load_in(session: Session, bundle: Bundle) -> ImportResult:
    try:
        return load_bundle(session, bundle)
    except Invalid as exc:
        errors = [{**e, "loc": ["body", *e["loc"]]} for e in exc.errors or []]
        raise Invalid(exc.detail, errors=errors) from exc


def read_bundle(body: bytes, content_type: str | None) -> Bundle:
    """The bundle a request body holds, read as FastAPI reads a JSON body (the same errors,
    located in ``body``), for a route that reads its body off the event loop. Its
    observations are validated a chunk at a time (``validated_items``), so that the event
    loop gets its turns meanwhile."""
    value: Any = body
    if body and _is_json(content_type):
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", exc.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": exc.msg},
                    }
                ]
            ) from exc
        except Exception as exc:  # bytes that are not UTF-8, nesting too deep: app.errors
            raise HTTPException(400, "There was an error parsing the body") from exc
    observations: list[Any] = []
    if isinstance(value, dict) and isinstance(value.get("observations"), list):
        value = dict(value)
        observations = value.pop("observations")
    errors: list[dict[str, Any]] = []
    bundle = None
    try:
        bundle = Bundle.model_validate(value)
    except ValidationError as exc:
        errors += validation_errors(exc.errors())
    valid = validated_items(errors.extend, "observations", ObservationImport, observations)
    bundle_observations = [item for _, item in valid]
    if errors or bundle is None:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])
    bundle.observations = bundle_observations
    return bundle


def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule: no content type, application/json or application/*+json."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )
