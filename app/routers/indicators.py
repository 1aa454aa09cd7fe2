"""Indicators: one measured concept in one geography, a series over periods."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import search
from app.auth import WriteKey
from app.db import AnyRow, SessionDep, reading, reads
from app.errors import Conflict, NotFound
from app.models import Indicator, Observation, indicator_sectors
from app.pagination import (
    CursorParam,
    Limit,
    Listing,
    SearchText,
    SortKey,
    choose_sort,
    page_response,
    paginate,
    sort_description,
    sort_query,
)
from app.params import IndicatorSlug
from app.prepared import Prepared
from app.queries import (
    indicator_in_sector,
    latest_observations,
    observation_filters,
    sector_slugs,
    slug_list,
)
from app.responses import json_response
from app.routers.observations import (
    Format,
    Kinds,
    PeriodFrom,
    PeriodTo,
    SortParam,
    existing_observation,
    observation_detail,
    observation_list,
    wants_csv,
)
from app.routing import Route
from app.schemas import Indicator as IndicatorOut
from app.schemas import (
    IndicatorCreate,
    IndicatorPage,
    IndicatorUpdate,
    ObservationCreate,
    ObservationImport,
    ObservationPage,
)
from app.schemas import Observation as ObservationOut
from app.writes import (
    SlugResource,
    create_one,
    created,
    merge_patch_body,
    patch_media_type,
    retried,
)

router = APIRouter(prefix="/v1/indicators", tags=["indicators"], route_class=Route)

SORTS = {
    "slug": SortKey(Indicator.slug, "str"),
    "name": SortKey(Indicator.name, "str"),
}
DEFAULT_SORT = "slug"

COLUMNS = (
    Indicator.id,
    Indicator.slug,
    Indicator.name,
    Indicator.description,
    Indicator.unit,
    Indicator.geography,
    Indicator.frequency,
    Indicator.better,
    sector_slugs(indicator_sectors, indicator_sectors.c.indicator_id, Indicator.id),
)


def _indicator_dicts(db: Connection, rows: list[AnyRow]) -> list[dict[str, Any]]:
    latest = latest_observations(db, [row.id for row in rows])
    return [
        {
            "slug": row.slug,
            "name": row.name,
            "description": row.description,
            "unit": row.unit,
            "geography": row.geography,
            "frequency": row.frequency,
            "better": row.better,
            "sectors": slug_list(row.sectors),
            "latest": latest[row.id],
        }
        for row in rows
    ]


@router.get(
    "",
    name="list_indicators",
    response_model=IndicatorPage,
    description=sort_description(SORTS, DEFAULT_SORT),
)
@reads
def list_indicators(
    request: Request,
    q: SearchText = None,
    sector: Annotated[str | None, Query(max_length=200, description="Sector slug.")] = None,
    geography: Annotated[
        str | None, Query(max_length=3, description="ISO 3166-1 alpha-3, e.g. `CHN`.")
    ] = None,
    unit: Annotated[str | None, Query(max_length=40, description="e.g. `percent`, `CNY`.")] = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """List indicators, each with its latest actual and target; search names and descriptions."""

    def listing(dialect: str) -> Listing:
        statement = select(*COLUMNS)
        if sector is not None:
            statement = statement.where(indicator_in_sector(sector))
        if geography is not None:
            statement = statement.where(Indicator.geography == geography.upper())
        if unit is not None:
            statement = statement.where(Indicator.unit == unit)
        relevance = None
        if q is not None:
            scores = search.scores(Indicator, q, dialect)
            statement = statement.join(scores, scores.c.id == Indicator.id)
            relevance = SortKey(scores.c.score, "float")
        chosen = choose_sort(sort, SORTS, default=DEFAULT_SORT, relevance=relevance)
        return Listing(statement, chosen, Indicator.id)

    with reading(request) as db:
        page = paginate(
            request,
            db,
            listing,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return page_response(request, page, _indicator_dicts(db, page.rows))


def _indicator_id(session: Session, slug: str) -> int:
    found = session.connection().scalar(select(Indicator.id).where(Indicator.slug == slug))
    if found is None:
        raise NotFound(f"No indicator with slug {slug!r}.")
    return found


_BY_SLUG = Prepared(select(*COLUMNS).where(Indicator.slug == bindparam("slug")))


def indicator_detail(db: Connection, slug: str) -> dict[str, Any] | None:
    """The indicator as ``GET /v1/indicators/{slug}`` shows it."""
    row = _BY_SLUG.one_or_none(db, slug=slug)
    return None if row is None else _indicator_dicts(db, [row])[0]


INDICATORS = SlugResource(
    model=Indicator,
    kind="indicators",
    name="indicator",
    detail=indicator_detail,
    create_model=IndicatorCreate,
    cited_by=Observation.indicator_id,
)


@router.get("/{slug}", name="get_indicator", response_model=IndicatorOut)
@reads
def get_indicator(request: Request, slug: IndicatorSlug) -> Response:
    """One indicator with its latest actual and latest target or plan."""
    with reading(request) as db:
        return json_response(request, INDICATORS.found(db, slug))


@router.post(
    "",
    name="create_indicator",
    status_code=201,
    response_model=IndicatorOut,
    dependencies=[WriteKey],
)
def create_indicator(request: Request, session: SessionDep, indicator: IndicatorCreate) -> Response:
    """Add an indicator; its sectors must exist. A slug already taken is a 409."""
    return INDICATORS.create(request, session, indicator)


@router.patch(
    "/{slug}",
    name="update_indicator",
    response_model=IndicatorOut,
    dependencies=[WriteKey, Depends(patch_media_type)],
    openapi_extra=merge_patch_body("IndicatorUpdate"),
)
def update_indicator(
    request: Request, session: SessionDep, slug: IndicatorSlug, patch: IndicatorUpdate
) -> Response:
    """Change an indicator with a JSON merge patch; needs `If-Match` with its current ETag."""
    return INDICATORS.update(request, session, slug, patch)


@router.delete(
    "/{slug}",
    name="delete_indicator",
    status_code=204,
    dependencies=[WriteKey],
)
def delete_indicator(
    session: SessionDep,
    slug: IndicatorSlug,
    cascade: Annotated[
        bool, Query(description="Also delete the indicator's observations.")
    ] = False,
) -> Response:
    """Delete an indicator; refused (409) while it has observations, unless `cascade=true`."""
    return INDICATORS.delete(session, slug, cascade=cascade)


@router.post(
    "/{slug}/observations",
    name="create_indicator_observation",
    status_code=201,
    response_model=ObservationOut,
    dependencies=[WriteKey],
)
@retried
def create_indicator_observation(
    request: Request, session: SessionDep, slug: IndicatorSlug, observation: ObservationCreate
) -> Response:
    """Add an observation; its evidence may be a quote alone, found in the article body.

    The same indicator, period, kind and article already observed is a 409.
    """
    indicator_id = _indicator_id(session, slug)
    item = ObservationImport.model_validate({**observation.model_dump(), "indicator": slug})
    taken = f"{slug} already has a {item.kind} for {item.period} from that article: PATCH it."
    if existing_observation(session, indicator_id, item) is not None:
        raise Conflict(taken)
    create_one(session, "observations", item, taken)
    new_id = existing_observation(session, indicator_id, item)
    assert new_id is not None
    detail = observation_detail(session.connection(), new_id)
    assert detail is not None
    return created(request, f"/v1/observations/{new_id}", detail)


@router.get(
    "/{slug}/observations",
    name="list_indicator_observations",
    response_model=ObservationPage,
    description="Sort by `period`, `id`; prefix `-` for descending. Default `period`.",
)
@reads
def list_indicator_observations(
    request: Request,
    slug: IndicatorSlug,
    kind: Kinds = None,
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
    sort: SortParam = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
    format: Format = None,
) -> Response:
    """The indicator's observations over time; `format=csv` streams all of them."""
    conditions = observation_filters(kinds=kind, period_from=period_from, period_to=period_to)
    return observation_list(
        request,
        conditions=conditions,
        sort=sort,
        limit=limit,
        cursor=cursor,
        csv_name=f"{slug}.csv",
        indicator=slug,
        as_csv=wants_csv(request, format),
    )
