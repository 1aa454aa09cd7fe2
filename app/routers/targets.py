"""Targets and plans, each paired with the actual that answers it."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Connection
from starlette.responses import Response

from app.db import reading, reads
from app.models import Article, Indicator, Observation
from app.pagination import (
    CursorParam,
    Limit,
    Listing,
    SortKey,
    choose_sort,
    page_response,
    paginate,
    sort_query,
)
from app.queries import indicator_in_sector, is_named, observation_dict, observation_select
from app.routing import Route
from app.schemas import Period, TargetPage
from app.targets import __doc__ as STATUS_RULE
from app.targets import status

router = APIRouter(prefix="/v1/targets", tags=["targets"], route_class=Route)

SORTS = {
    "period": SortKey(Observation.period_start, "date"),
    "id": SortKey(Observation.id, "int"),
}


@router.get(
    "",
    name="list_targets",
    response_model=TargetPage,
    description=(
        "Each target or plan with its outcome: the actual of the same indicator and period "
        "from the most recently published article.\n\n"
        + (STATUS_RULE or "").split("\n\n", 1)[1]
        + "\nSort by `period`, `id`; prefix `-` for descending. Default `period`."
    ),
)
@reads
def list_targets(
    request: Request,
    period: Annotated[Period | None, Query(description="Exactly this period.")] = None,
    indicator: Annotated[str | None, Query(max_length=200, description="Indicator slug.")] = None,
    sector: Annotated[str | None, Query(max_length=200, description="Sector slug.")] = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """List targets and plans with their outcome and status (met, missed or pending)."""

    def listing(_dialect: str) -> Listing:
        statement = (
            observation_select()
            .add_columns(Observation.indicator_id, Indicator.better)
            .where(Observation.kind.in_(("target", "plan")))
        )
        if period is not None:
            statement = statement.where(Observation.period == period)
        if indicator is not None:
            statement = statement.where(is_named(Indicator.slug, indicator))
        if sector is not None:
            statement = statement.where(indicator_in_sector(sector))
        chosen = choose_sort(sort, SORTS, default="period", relevance=None)
        return Listing(statement, chosen, Observation.id)

    with reading(request) as db:
        page = paginate(
            request,
            db,
            listing,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        outcomes = _outcomes(db, {(row.indicator_id, row.period) for row in page.rows})
        items = []
        for row in page.rows:
            outcome = outcomes.get((row.indicator_id, row.period))
            items.append(
                {
                    "target": observation_dict(row),
                    "outcome": outcome,
                    "status": status(
                        target=row.value,
                        comparator=row.comparator,
                        value_text=row.value_text,
                        outcome=outcome["value"] if outcome else None,
                        better=row.better,
                    ),
                }
            )
        return page_response(request, page, items)


def _outcomes(db: Connection, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], dict[str, Any]]:
    """The actual for each (indicator, period), from the most recently published article."""
    if not pairs:
        return {}
    rows = db.execute(
        observation_select()
        .add_columns(Observation.indicator_id)
        .where(
            Observation.kind == "actual",
            # Separate INs, not a row-value IN: SQLite finds these through the index on
            # (indicator_id, period_start); the pairs are picked out below.
            Observation.indicator_id.in_({indicator for indicator, _ in pairs}),
            Observation.period.in_({period for _, period in pairs}),
        )
        .order_by(Article.published_at.desc(), Observation.id.desc())
    )
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        if (row.indicator_id, row.period) in pairs:
            found.setdefault((row.indicator_id, row.period), observation_dict(row))
    return found
