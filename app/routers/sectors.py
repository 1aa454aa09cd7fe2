"""Sectors: the sectors and industries that articles and indicators concern."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Row, func, select
from starlette.responses import Response

from app import search
from app.db import SessionDep
from app.errors import NotFound
from app.models import Article, Indicator, Sector, article_sectors, indicator_sectors
from app.pagination import (
    CursorParam,
    Limit,
    SearchText,
    SortKey,
    choose_sort,
    cursors,
    fingerprint,
    page_response,
    paginate,
    sort_description,
)
from app.queries import iso
from app.responses import json_response
from app.schemas import SectorDetail, SectorPage

router = APIRouter(prefix="/v1/sectors", tags=["sectors"])

SORTS = {
    "slug": SortKey(Sector.slug, "str"),
    "name": SortKey(Sector.name, "str"),
}
DEFAULT_SORT = "slug"


def _columns() -> tuple[Any, ...]:
    def count(link: Any) -> Any:
        return (
            select(func.count())
            .select_from(link)
            .where(link.c.sector_id == Sector.id)
            .correlate(Sector)
            .scalar_subquery()
        )

    return (
        Sector.id,
        Sector.slug,
        Sector.name,
        Sector.description,
        count(article_sectors).label("article_count"),
        count(indicator_sectors).label("indicator_count"),
    )


def _sector_dict(row: Row[Any]) -> dict[str, Any]:
    return {
        "slug": row.slug,
        "name": row.name,
        "description": row.description,
        "article_count": row.article_count,
        "indicator_count": row.indicator_count,
    }


@router.get(
    "",
    name="list_sectors",
    response_model=SectorPage,
    description=sort_description(SORTS, DEFAULT_SORT),
)
def list_sectors(
    request: Request,
    session: SessionDep,
    q: SearchText = None,
    sort: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """List sectors with how many articles and indicators concern each."""
    statement = select(*_columns())
    relevance = None
    if q is not None:
        scores = search.scores(Sector.__table__, q, session.get_bind().dialect.name)
        statement = statement.join(scores, scores.c.id == Sector.id)
        relevance = SortKey(scores.c.score, "float")
    chosen = choose_sort(sort, SORTS, default=DEFAULT_SORT, relevance=relevance)
    page = paginate(
        session,
        statement,
        sort=chosen,
        tiebreak=Sector.id,
        limit=limit,
        cursor=cursor,
        cursors=cursors(request),
        query=fingerprint({"path": "sectors", "q": q}),
    )
    return page_response(request, page, [_sector_dict(row) for row in page.rows])


@router.get("/{slug}", name="get_sector", response_model=SectorDetail)
def get_sector(
    request: Request,
    session: SessionDep,
    slug: Annotated[str, Path(max_length=200, description="The sector's slug.")],
) -> Response:
    """One sector with the indicators and articles that concern it."""
    row = session.execute(select(*_columns()).where(Sector.slug == slug)).one_or_none()
    if row is None:
        raise NotFound(f"No sector with slug {slug!r}.")
    indicators = session.execute(
        select(Indicator.slug, Indicator.name, Indicator.unit)
        .join(indicator_sectors, indicator_sectors.c.indicator_id == Indicator.id)
        .where(indicator_sectors.c.sector_id == row.id)
        .order_by(Indicator.slug)
    )
    articles = session.execute(
        select(Article.slug, Article.title, Article.published_at)
        .join(article_sectors, article_sectors.c.article_id == Article.id)
        .where(article_sectors.c.sector_id == row.id)
        .order_by(Article.published_at.desc(), Article.id.desc())
    )
    return json_response(
        request,
        {
            **_sector_dict(row),
            "indicators": [{"slug": i.slug, "name": i.name, "unit": i.unit} for i in indicators],
            "articles": [
                {"slug": a.slug, "title": a.title, "published_at": iso(a.published_at)}
                for a in articles
            ],
        },
    )
