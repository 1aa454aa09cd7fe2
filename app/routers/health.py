"""Liveness and readiness probes for load balancers and orchestrators."""

from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from app.errors import problem
from app.migrate import current_revision
from app.routing import Route
from app.schemas import Health, Problem

router = APIRouter(tags=["health"], route_class=Route)

_OK = b'{"status":"ok"}'


@router.get("/healthz", name="get_health", response_model=Health)
async def get_health() -> Response:
    """200 while the process lives."""
    return Response(_OK, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get(
    "/readyz",
    name="get_readiness",
    response_model=Health,
    responses={503: {"model": Problem, "description": "Database down or not migrated."}},
)
def get_readiness(request: Request) -> Response:
    """200 when the database answers and its schema is at the newest migration, else 503."""
    try:
        revision = current_revision(request.app.state.engine)
    except SQLAlchemyError:
        return problem(503, "The database does not answer.", headers={"Cache-Control": "no-store"})
    head = request.app.state.head_revision
    if revision != head:
        return problem(
            503,
            f"The database schema is at {revision or 'nothing'}, not {head}: "
            "run `policyfacts migrate`.",
            headers={"Cache-Control": "no-store"},
        )
    return Response(_OK, media_type="application/json", headers={"Cache-Control": "no-store"})
