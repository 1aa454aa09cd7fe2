"""Observations: one figure for one period, as one source stated it; JSON pages or a CSV stream."""

import csv
import io
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import ColumnElement, Connection, bindparam, delete, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.auth import WriteKey
from app.db import SessionDep, reading, reads
from app.errors import NotFound
from app.importer import bump_version
from app.models import Article, Indicator, Observation
from app.pagination import (
    CursorParam,
    Limit,
    Listing,
    Scan,
    SortKey,
    choose_sort,
    page_response,
    paginate,
    query_of,
    scan,
    sort_description,
    sort_query,
)
from app.params import ObservationId
from app.prepared import Prepared
from app.queries import (
    indicator_in_sector,
    is_named,
    observation_dict,
    observation_filters,
    observation_select,
)
from app.responses import etag_for, json_response, streaming_csv
from app.routing import Route
from app.schemas import (
    Kind,
    ObservationCreate,
    ObservationImport,
    ObservationPage,
    ObservationUpdate,
    Period,
)
from app.schemas import Observation as ObservationOut
from app.writes import (
    apply_patch,
    check_if_match,
    lock,
    merge_patch_body,
    no_content,
    patch_media_type,
    replace_observation,
    retried,
    updated,
)

router = APIRouter(prefix="/v1/observations", tags=["observations"], route_class=Route)

SORTS = {
    "period": SortKey(Observation.period_start, "date"),
    "id": SortKey(Observation.id, "int"),
}
DEFAULT_SORT = "period"
CSV_COLUMNS = (
    "id",
    "indicator",
    "period",
    "kind",
    "value",
    "comparator",
    "unit",
    "value_text",
    "article",
    "quote",
    "start",
    "end",
)
CSV_BATCH = 1000

Kinds = Annotated[list[Kind] | None, Query(description="Keep these kinds; repeat for several.")]
PeriodFrom = Annotated[
    Period | None,
    Query(description="Keep periods that start on or after the start of this one."),
]
PeriodTo = Annotated[
    Period | None, Query(description="Keep periods that end on or before the end of this one.")
]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="`csv` streams every matching row (also `Accept: text/csv`)."),
]
SortParam = Annotated[str | None, sort_query(SORTS)]


def wants_csv(request: Request, format_: str | None) -> bool:
    """``format`` decides; else CSV when ``Accept`` weighs it above JSON (RFC 9110 12.5.1)."""
    if format_ is not None:
        return format_ == "csv"
    accept = request.headers.get("accept")
    if not accept:
        return False
    csv_quality = _quality(accept, "text", "csv")
    return csv_quality > 0 and csv_quality > _quality(accept, "application", "json")


def _quality(accept: str, type_: str, subtype: str) -> float:
    """The weight ``accept`` gives a media type: that of its most specific matching range."""
    best: tuple[int, float] = (-1, 0.0)
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        main, _, sub = media.lower().partition("/")
        if (main, sub) == (type_, subtype):
            specificity = 2
        elif (main, sub) == (type_, "*"):
            specificity = 1
        elif (main, sub) == ("*", "*"):
            specificity = 0
        else:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        best = max(best, (specificity, quality))
    return best[1]


def observation_list(
    request: Request,
    *,
    conditions: Sequence[ColumnElement[bool]],
    sort: str | None,
    limit: int,
    cursor: str | None,
    csv_name: str,
    as_csv: bool,
    indicator: str | None = None,
) -> Response:
    """A page of observations, or all of them as CSV, for both observation list endpoints.

    ``indicator``, when given, must exist (a 404 otherwise) and the list is its series.
    """
    if indicator is not None:
        conditions = [*conditions, Indicator.slug == indicator]

    def listing(_dialect: str) -> Listing:
        statement = observation_select().where(*conditions)
        chosen = choose_sort(sort, SORTS, default=DEFAULT_SORT, relevance=None)
        return Listing(statement, chosen, Observation.id)

    with reading(request) as db:
        _require_indicator(db, indicator)
        if as_csv:
            every = scan(request, db, listing, sort=sort, batch=CSV_BATCH)
            return _csv(request, every, name=csv_name)
        page = paginate(
            request,
            db,
            listing,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return page_response(request, page, [observation_dict(row) for row in page.rows])


_INDICATOR_ID = Prepared(select(Indicator.id).where(Indicator.slug == bindparam("slug")))


def _require_indicator(db: Connection, slug: str | None) -> None:
    if slug is not None and _INDICATOR_ID.one_or_none(db, slug=slug) is None:
        raise NotFound(f"No indicator with slug {slug!r}.")


def _csv(request: Request, every: Scan, *, name: str) -> Response:
    """Every row as CSV, a batch at a time; its ETag is that of the data version and query."""
    etag = etag_for(f"csv:{every.version}:{query_of(request)}:{request.url.query}".encode())

    async def chunks() -> AsyncGenerator[bytes, None]:
        yield _lines([CSV_COLUMNS])
        async for rows in every.batches():
            yield _lines(_csv_row(row) for row in rows)

    return streaming_csv(request, chunks, etag=etag, filename=name)


def _lines(rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def _csv_row(row: Any) -> tuple[Any, ...]:
    return (
        row.id,
        row.indicator,
        row.period,
        row.kind,
        _number(row.value),
        row.comparator,
        _cell(row.unit),
        _cell(row.value_text),
        row.article,
        _cell(row.quote),
        row.quote_start,
        row.quote_end,
    )


# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str | None:
    """Text as a spreadsheet shows it and never runs it: a cell that would start a formula
    gets a leading apostrophe, as OWASP advises. Only the source's own words can: slugs,
    periods and numbers are the server's, and a number keeps its sign."""
    if text is not None and text.startswith(_FORMULA):
        return "'" + text
    return text


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() else repr(value)


@router.get(
    "",
    name="list_observations",
    response_model=ObservationPage,
    description=sort_description(SORTS, DEFAULT_SORT),
)
@reads
def list_observations(
    request: Request,
    indicator: Annotated[str | None, Query(max_length=200, description="Indicator slug.")] = None,
    sector: Annotated[
        str | None, Query(max_length=200, description="Sector slug (of the indicator).")
    ] = None,
    article: Annotated[str | None, Query(max_length=200, description="Article slug.")] = None,
    kind: Kinds = None,
    period: Annotated[Period | None, Query(description="Exactly this period.")] = None,
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
    sort: SortParam = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
    format: Format = None,
) -> Response:
    """List every observation, filtered; `format=csv` streams all matching rows."""
    conditions = observation_filters(
        kinds=kind, period=period, period_from=period_from, period_to=period_to
    )
    if indicator is not None:
        conditions.append(is_named(Indicator.slug, indicator))
    if article is not None:
        conditions.append(is_named(Article.slug, article))
    if sector is not None:
        conditions.append(indicator_in_sector(sector))
    return observation_list(
        request,
        conditions=conditions,
        sort=sort,
        limit=limit,
        cursor=cursor,
        csv_name="observations.csv",
        as_csv=wants_csv(request, format),
    )


_BY_ID = Prepared(observation_select().where(Observation.id == bindparam("id")))


def observation_detail(db: Connection, observation_id: int) -> dict[str, Any] | None:
    """The observation as ``GET /v1/observations/{id}`` shows it."""
    row = _BY_ID.one_or_none(db, id=observation_id)
    return None if row is None else observation_dict(row)


def existing_observation(
    session: Session, indicator_id: int, item: ObservationImport
) -> int | None:
    """The id of the observation with the identity of ``item``, if there is one."""
    found: int | None = session.connection().scalar(
        select(Observation.id)
        .join(Article, Article.id == Observation.article_id)
        .where(
            Observation.indicator_id == indicator_id,
            Observation.period == item.period,
            Observation.kind == item.kind,
            Article.slug == item.evidence.article,
        )
    )
    return found


def _found(db: Connection, observation_id: int) -> dict[str, Any]:
    detail = observation_detail(db, observation_id)
    if detail is None:
        raise NotFound(f"No observation with id {observation_id}.")
    return detail


@router.get("/{id}", name="get_observation", response_model=ObservationOut)
@reads
def get_observation(request: Request, id: ObservationId) -> Response:
    """One observation with its evidence."""
    with reading(request) as db:
        return json_response(request, _found(db, id))


@router.patch(
    "/{id}",
    name="update_observation",
    response_model=ObservationOut,
    dependencies=[WriteKey, Depends(patch_media_type)],
    openapi_extra=merge_patch_body("ObservationUpdate"),
)
@retried
def update_observation(
    request: Request, session: SessionDep, id: ObservationId, patch: ObservationUpdate
) -> Response:
    """Correct an observation with a JSON merge patch; needs `If-Match` with its ETag.

    A new `evidence.quote` without offsets is found again in the article body.
    """
    if lock(session, Observation, id=id) is None:
        raise NotFound(f"No observation with id {id}.")
    current = _found(session.connection(), id)
    check_if_match(request, current)
    evidence = patch.evidence
    if evidence is not None and evidence.quote is not None and evidence.start is None:
        # A new quote alone is found again: the old offsets are not merged into it.
        current["evidence"] = {"article": current["evidence"]["article"]}
    item: ObservationCreate = apply_patch(current, patch, ObservationCreate)
    full = ObservationImport.model_validate(
        {**item.model_dump(), "indicator": current["indicator"]}
    )
    replace_observation(session, id, full)
    return updated(_found(session.connection(), id))


@router.delete(
    "/{id}",
    name="delete_observation",
    status_code=204,
    dependencies=[WriteKey],
)
@retried
def delete_observation(session: SessionDep, id: ObservationId) -> Response:
    """Delete an observation."""
    if lock(session, Observation, id=id) is None:
        raise NotFound(f"No observation with id {id}.")
    session.execute(delete(Observation).where(Observation.id == id))
    bump_version(session)
    return no_content()
