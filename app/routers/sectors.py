"""Sectors: the sectors and industries that articles and indicators concern."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection, bindparam, func, select
from starlette.responses import Response

from app import search
from app.auth import WriteKey
from app.db import AnyRow, SessionDep, reading, reads
from app.models import Article, Indicator, Sector, article_sectors, indicator_sectors
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
from app.params import SectorSlug
from app.prepared import Prepared
from app.queries import iso
from app.responses import json_response
from app.routing import Route
from app.schemas import SectorCreate, SectorDetail, SectorPage, SectorUpdate
from app.writes import SlugResource, merge_patch_body, patch_media_type

router = APIRouter(prefix="/v1/sectors", tags=["sectors"], route_class=Route)

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


def _sector_dict(row: AnyRow) -> dict[str, Any]:
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
@reads
def list_sectors(
    request: Request,
    q: SearchText = None,
    sort: Annotated[str | None, sort_query(SORTS)] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """List sectors with how many articles and indicators concern each."""

    def listing(dialect: str) -> Listing:
        statement = select(*_columns())
        relevance = None
        if q is not None:
            scores = search.scores(Sector, q, dialect)
            statement = statement.join(scores, scores.c.id == Sector.id)
            relevance = SortKey(scores.c.score, "float")
        chosen = choose_sort(sort, SORTS, default=DEFAULT_SORT, relevance=relevance)
        return Listing(statement, chosen, Sector.id)

    with reading(request) as db:
        page = paginate(
            request,
            db,
            listing,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return page_response(request, page, [_sector_dict(row) for row in page.rows])


_BY_SLUG = Prepared(select(*_columns()).where(Sector.slug == bindparam("slug")))
_INDICATORS = Prepared(
    select(Indicator.slug, Indicator.name, Indicator.unit)
    .join(indicator_sectors, indicator_sectors.c.indicator_id == Indicator.id)
    .where(indicator_sectors.c.sector_id == bindparam("sector_id"))
    .order_by(Indicator.slug)
)
_ARTICLES = Prepared(
    select(Article.slug, Article.title, Article.published_at)
    .join(article_sectors, article_sectors.c.article_id == Article.id)
    .where(article_sectors.c.sector_id == bindparam("sector_id"))
    .order_by(Article.published_at.desc(), Article.id.desc())
)


def sector_detail(db: Connection, slug: str) -> dict[str, Any] | None:
    """The sector as ``GET /v1/sectors/{slug}`` shows it."""
    row = _BY_SLUG.one_or_none(db, slug=slug)
    if row is None:
        return None
    indicators = _INDICATORS.all(db, sector_id=row.id)
    articles = _ARTICLES.all(db, sector_id=row.id)
    return {
        **_sector_dict(row),
        "indicators": [{"slug": i.slug, "name": i.name, "unit": i.unit} for i in indicators],
        "articles": [
            {"slug": a.slug, "title": a.title, "published_at": iso(a.published_at)}
            for a in articles
        ],
    }


SECTORS = SlugResource(
    model=Sector,
    kind="sectors",
    name="sector",
    detail=sector_detail,
    create_model=SectorCreate,
)


@router.get("/{slug}", name="get_sector", response_model=SectorDetail)
@reads
def get_sector(request: Request, slug: SectorSlug) -> Response:
    """One sector with the indicators and articles that concern it."""
    with reading(request) as db:
        return json_response(request, SECTORS.found(db, slug))


@router.post(
    "",
    name="create_sector",
    status_code=201,
    response_model=SectorDetail,
    dependencies=[WriteKey],
)
def create_sector(request: Request, session: SessionDep, sector: SectorCreate) -> Response:
    """Add a sector. A slug already taken is a 409."""
    return SECTORS.create(request, session, sector)


@router.patch(
    "/{slug}",
    name="update_sector",
    response_model=SectorDetail,
    dependencies=[WriteKey, Depends(patch_media_type)],
    openapi_extra=merge_patch_body("SectorUpdate"),
)
def update_sector(
    request: Request, session: SessionDep, slug: SectorSlug, patch: SectorUpdate
) -> Response:
    """Change a sector with a JSON merge patch; needs `If-Match` with its current ETag."""
    return SECTORS.update(request, session, slug, patch)


@router.delete(
    "/{slug}",
    name="delete_sector",
    status_code=204,
    dependencies=[WriteKey],
)
def delete_sector(session: SessionDep, slug: SectorSlug) -> Response:
    """Delete a sector; articles and indicators simply stop naming it."""
    return SECTORS.delete(session, slug)
