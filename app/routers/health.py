"""Liveness and readiness probes for load balancers and orchestrators."""

import asyncio
import time

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from app.errors import problem
from app.migrate import current_revision
from app.routing import Route
from app.schemas import Health, Problem

router = APIRouter(tags=["health"], route_class=Route)

_OK = b'{"status":"ok"}'
# A probe gives up on the database after this long: orchestrators time probes out after a
# few seconds, and an answer that never comes says less than a 503.
WAIT_SECONDS = 2.0


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
async def get_readiness(request: Request) -> Response:
    """200 when the database answers and its schema is at the newest migration, else 503."""
    try:
        revision = await _current_revision(request.app)
    except (SQLAlchemyError, TimeoutError):
        return problem(
            503,
            "The database does not answer.",
            headers={"Cache-Control": "no-store", "Retry-After": "1"},
        )
    head = request.app.state.head_revision
    if revision != head:
        return problem(
            503,
            f"The database schema is at {revision or 'nothing'}, not {head}: "
            "run `policyfacts migrate`.",
            headers={"Cache-Control": "no-store"},
        )
    return Response(_OK, media_type="application/json", headers={"Cache-Control": "no-store"})


async def _current_revision(app: FastAPI) -> str | None:
    """The schema's revision, read in a thread that the probes share while it runs: one
    that blocks on a database that does not answer cannot be stopped, so the probes after
    it wait for what is left of its ``WAIT_SECONDS`` instead of each blocking a thread."""
    state = app.state
    check: asyncio.Future[str | None] | None = getattr(state, "readiness_check", None)
    if check is None or check.done():
        check = state.readiness_check = asyncio.ensure_future(
            asyncio.to_thread(current_revision, state.engine)
        )
        # Its error is read by whoever still waits; when no one does, it is read here, or
        # asyncio logs it as never retrieved.
        check.add_done_callback(lambda done: done.cancelled() or done.exception())
        state.readiness_since = time.monotonic()
    left = state.readiness_since + WAIT_SECONDS - time.monotonic()
    return await asyncio.wait_for(asyncio.shield(check), max(left, 0))
