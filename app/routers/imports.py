"""Imports: a whole bundle of articles, sectors, indicators and observations at once."""

from fastapi import APIRouter
from starlette.responses import Response

from app.auth import WriteKey
from app.db import SessionDep
from app.errors import Invalid
from app.importer import load_bundle
from app.routing import Route
from app.schemas import Bundle, ImportResult
from app.writes import retried

router = APIRouter(prefix="/v1/imports", tags=["imports"], route_class=Route)


@router.post(
    "",
    name="create_import",
    response_model=ImportResult,
    dependencies=[WriteKey],
)
@retried
def create_import(session: SessionDep, bundle: Bundle) -> Response:
    """Load a bundle in one transaction: all of it, or with any error none of it.

    Items are matched by slug (observations by indicator, period, kind and article): the same
    bundle twice changes nothing, an edited bundle updates in place, also when two loads
    overlap. A 422 lists every error with its place in the bundle.
    """
    try:
        result = load_bundle(session, bundle)
    except Invalid as exc:
        errors = [{**e, "loc": ["body", *e["loc"]]} for e in exc.errors or []]
        raise Invalid(exc.detail, errors=errors) from exc
    return Response(result.model_dump_json(), media_type="application/json")
