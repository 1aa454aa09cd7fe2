"""Articles: the sources that facts are taken from."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import Row, func, select
from starlette.responses import Response

from app import search
from app.db import SessionDep
from app.errors import NotFound
from app.models import Article, Observation, article_sectors
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
from app.queries import in_sector, iso, sector_slugs
from app.responses import json_response
from app.schemas import ArticleDetail, ArticlePage

router = APIRouter(prefix="/v1/articles", tags=["articles"])

SORTS = {
    "published_at": SortKey(Article.published_at, "datetime"),
    "title": SortKey(Article.title, "str"),
    "slug": SortKey(Article.slug, "str"),
}
DEFAULT_SORT = "-published_at"

SlugPath = Annotated[str, Path(max_length=200, description="The article's slug.")]
Instant = Annotated[
    datetime | date | None,
    Query(description="A date (whole day, UTC) or a timestamp with offset."),
]


def _columns() -> tuple[Any, ...]:
    observation_count = (
        select(func.count())
        .where(Observation.article_id == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )
    return (
        Article.id,
        Article.slug,
        Article.title,
        Article.subtitle,
        Article.author,
        Article.section,
        Article.dateline,
        Article.published_at,
        Article.language,
        Article.source_name,
        Article.source_url,
        Article.summary,
        Article.created_at,
        Article.updated_at,
        observation_count.label("observation_count"),
    )


def _article_dict(row: Row[Any], sectors: list[str]) -> dict[str, Any]:
    return {
        "slug": row.slug,
        "title": row.title,
        "subtitle": row.subtitle,
        "author": row.author,
        "section": row.section,
        "dateline": row.dateline,
        "published_at": iso(row.published_at),
        "language": row.language,
        "source": {"name": row.source_name, "url": row.source_url},
        "summary": row.summary,
        "sectors": sectors,
        "observation_count": row.observation_count,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _instant(value: datetime | date, *, end: bool) -> datetime:
    """A filter bound as a UTC instant; a date means the whole day, so ``end`` takes its end."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)
    start = datetime.combine(value, time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@router.get(
    "",
    name="list_articles",
    response_model=ArticlePage,
    description=sort_description(SORTS, DEFAULT_SORT),
)
def list_articles(
    request: Request,
    session: SessionDep,
    q: SearchText = None,
    sector: Annotated[str | None, Query(max_length=200, description="Sector slug.")] = None,
    published_from: Instant = None,
    published_to: Instant = None,
    sort: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """List articles, newest first; filter by text, sector and publication time."""
    statement = select(*_columns())
    if sector is not None:
        statement = statement.where(
            in_sector(Article.id, article_sectors.c.sector_id, article_sectors.c.article_id, sector)
        )
    if published_from is not None:
        statement = statement.where(Article.published_at >= _instant(published_from, end=False))
    if published_to is not None:
        bound = _instant(published_to, end=True)
        inclusive = isinstance(published_to, datetime)
        statement = statement.where(
            Article.published_at <= bound if inclusive else Article.published_at < bound
        )
    relevance = None
    if q is not None:
        scores = search.scores(Article.__table__, q, session.get_bind().dialect.name)
        statement = statement.join(scores, scores.c.id == Article.id)
        relevance = SortKey(scores.c.score, "float")
    chosen = choose_sort(sort, SORTS, default=DEFAULT_SORT, relevance=relevance)
    filters = {"q": q, "sector": sector, "from": published_from, "to": published_to}
    page = paginate(
        session,
        statement,
        sort=chosen,
        tiebreak=Article.id,
        limit=limit,
        cursor=cursor,
        cursors=cursors(request),
        query=fingerprint({"path": "articles", **filters}),
    )
    slugs = sector_slugs(
        session, article_sectors, article_sectors.c.article_id, (row.id for row in page.rows)
    )
    return page_response(request, page, [_article_dict(r, slugs[r.id]) for r in page.rows])


@router.get("/{slug}", name="get_article", response_model=ArticleDetail)
def get_article(request: Request, session: SessionDep, slug: SlugPath) -> Response:
    """One article with its full body, which evidence offsets point into."""
    row = session.execute(
        select(*_columns(), Article.body).where(Article.slug == slug)
    ).one_or_none()
    if row is None:
        raise NotFound(f"No article with slug {slug!r}.")
    slugs = sector_slugs(session, article_sectors, article_sectors.c.article_id, [row.id])
    return json_response(request, {**_article_dict(row, slugs[row.id]), "body": row.body})
