"""Articles: the sources that facts are taken from."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BeforeValidator
from sqlalchemy import Connection, bindparam, func, select
from starlette.responses import Response

from app import search
from app.auth import WriteKey
from app.db import AnyRow, SessionDep, reading, reads
from app.errors import Invalid
from app.models import Article, Observation, article_sectors
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
from app.params import ArticleSlug
from app.prepared import Prepared
from app.queries import in_sector, iso, sector_slugs, slug_list
from app.responses import json_response
from app.routing import Route
from app.schemas import (
    ArticleCreate,
    ArticleDetail,
    ArticlePage,
    ArticleUpdate,
    date_or_instant,
)
from app.writes import SlugResource, merge_patch_body, patch_media_type

router = APIRouter(prefix="/v1/articles", tags=["articles"], route_class=Route)

SORTS = {
    "published_at": SortKey(Article.published_at, "datetime"),
    "title": SortKey(Article.title, "str"),
    "slug": SortKey(Article.slug, "str"),
}
DEFAULT_SORT = "-published_at"

Instant = Annotated[
    datetime | date | None,
    BeforeValidator(date_or_instant),
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
        sector_slugs(article_sectors, article_sectors.c.article_id, Article.id),
    )


def _article_dict(row: AnyRow) -> dict[str, Any]:
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
        "sectors": slug_list(row.sectors),
        "observation_count": row.observation_count,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _instant(value: datetime | date, *, end: bool, name: str) -> datetime:
    """A filter bound as a UTC instant; a date means the whole day, so ``end`` takes its end."""
    try:
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            return aware.astimezone(UTC)
        start = datetime.combine(value, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    except OverflowError as exc:
        raise Invalid(
            f"{name} is outside the years 1 to 9999 once read in UTC.",
            errors=[{"loc": ["query", name], "msg": "out of range", "type": "datetime_range"}],
        ) from exc


@router.get(
    "",
    name="list_articles",
    response_model=ArticlePage,
    description=sort_description(SORTS, DEFAULT_SORT),
)
@reads
def list_articles(
    request: Request,
    q: SearchText = None,
    sector: Annotated[str | None, Query(max_length=200, description="Sector slug.")] = None,
    published_from: Instant = None,
    published_to: Instant = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """List articles, newest first; filter by text, sector and publication time."""
    # Checked before any lookup: a bound out of range is a 422 whether or not the query
    # was met before.
    after = (
        None
        if published_from is None
        else _instant(published_from, end=False, name="published_from")
    )
    before = None if published_to is None else _instant(published_to, end=True, name="published_to")

    def listing(dialect: str) -> Listing:
        statement = select(*_columns())
        if sector is not None:
            statement = statement.where(
                in_sector(
                    Article.id, article_sectors.c.sector_id, article_sectors.c.article_id, sector
                )
            )
        if after is not None:
            statement = statement.where(Article.published_at >= after)
        if before is not None:
            inclusive = isinstance(published_to, datetime)
            statement = statement.where(
                Article.published_at <= before if inclusive else Article.published_at < before
            )
        relevance = None
        if q is not None:
            scores = search.scores(Article, q, dialect)
            statement = statement.join(scores, scores.c.id == Article.id)
            relevance = SortKey(scores.c.score, "float")
        chosen = choose_sort(sort, SORTS, default=DEFAULT_SORT, relevance=relevance)
        return Listing(statement, chosen, Article.id)

    with reading(request) as db:
        page = paginate(
            request,
            db,
            listing,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return page_response(request, page, [_article_dict(r) for r in page.rows])


_BY_SLUG = Prepared(select(*_columns(), Article.body).where(Article.slug == bindparam("slug")))


def article_detail(db: Connection, slug: str) -> dict[str, Any] | None:
    """The article as ``GET /v1/articles/{slug}`` shows it."""
    row = _BY_SLUG.one_or_none(db, slug=slug)
    if row is None:
        return None
    return {**_article_dict(row), "body": row.body}


ARTICLES = SlugResource(
    model=Article,
    kind="articles",
    name="article",
    detail=article_detail,
    create_model=ArticleCreate,
    cited_by=Observation.article_id,
)


@router.get("/{slug}", name="get_article", response_model=ArticleDetail)
@reads
def get_article(request: Request, slug: ArticleSlug) -> Response:
    """One article with its full body, which evidence offsets point into."""
    with reading(request) as db:
        return json_response(request, ARTICLES.found(db, slug))


@router.post(
    "",
    name="create_article",
    status_code=201,
    response_model=ArticleDetail,
    dependencies=[WriteKey],
)
def create_article(request: Request, session: SessionDep, article: ArticleCreate) -> Response:
    """Add an article; its sectors must exist. A slug already taken is a 409."""
    return ARTICLES.create(request, session, article)


@router.patch(
    "/{slug}",
    name="update_article",
    response_model=ArticleDetail,
    dependencies=[WriteKey, Depends(patch_media_type)],
    openapi_extra=merge_patch_body("ArticleUpdate"),
)
def update_article(
    request: Request, session: SessionDep, slug: ArticleSlug, patch: ArticleUpdate
) -> Response:
    """Change an article with a JSON merge patch; needs `If-Match` with its current ETag."""
    return ARTICLES.update(request, session, slug, patch)


@router.delete(
    "/{slug}",
    name="delete_article",
    status_code=204,
    dependencies=[WriteKey],
)
def delete_article(
    session: SessionDep,
    slug: ArticleSlug,
    cascade: Annotated[
        bool, Query(description="Also delete the observations that cite the article.")
    ] = False,
) -> Response:
    """Delete an article; refused (409) while observations cite it, unless `cascade=true`."""
    return ARTICLES.delete(session, slug, cascade=cascade)
