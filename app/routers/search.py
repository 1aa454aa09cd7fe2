"""One search box over articles, sectors and indicators."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Connection, Integer, func, literal, select, union_all
from starlette.responses import Response

from app import search
from app.db import AnySelect, reading, reads
from app.models import Article, Indicator, Sector
from app.pagination import (
    CursorParam,
    Limit,
    Listing,
    Sort,
    SortKey,
    page_response,
    paginate,
)
from app.prepared import Prepared, in_ids
from app.routing import Route
from app.schemas import SearchPage

router = APIRouter(prefix="/v1/search", tags=["search"], route_class=Route)

# Each type's label, model, the column shown as its title and the text its snippet comes from.
TYPES: tuple[tuple[str, Any, Any, tuple[Any, ...]], ...] = (
    ("article", Article, Article.title, (Article.summary, Article.subtitle, Article.body)),
    ("sector", Sector, Sector.name, (Sector.description,)),
    ("indicator", Indicator, Indicator.name, (Indicator.description,)),
)


def _matches(q: str, dialect: str) -> AnySelect:
    parts = []
    for code, (label, model, title, _texts) in enumerate(TYPES):
        scores = search.scores(model, q, dialect)
        parts.append(
            select(
                literal(label).label("type"),
                model.id.label("id"),
                # Unique across the three tables: the tiebreak of the keyset.
                (model.id * len(TYPES) + code).label("uid"),
                model.slug.label("slug"),
                title.label("title"),
                scores.c.score.label("score"),
            ).join(scores, scores.c.id == model.id)
        )
    matches = union_all(*parts).subquery("matches")
    return select(matches)


@router.get("", name="search", response_model=SearchPage)
@reads
def search_all(
    request: Request,
    q: Annotated[
        str,
        Query(
            max_length=2000,
            description="Words to find, in any order, stemmed; any text is read as plain words.",
        ),
    ],
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """Search articles, sectors and indicators at once, best match first."""

    def listing(dialect: str) -> Listing:
        statement = _matches(q, dialect)
        matches = statement.selected_columns
        relevance = Sort(name="relevance", key=SortKey(matches.score, "float"), descending=False)
        return Listing(statement, relevance, matches.uid.cast(Integer))

    with reading(request) as db:
        page = paginate(
            request,
            db,
            listing,
            sort=None,
            limit=limit,
            cursor=cursor,
        )
        texts = _texts(db, page.rows)
        items = [
            {
                "type": row.type,
                "slug": row.slug,
                "title": row.title,
                "snippet": search.snippet(texts.get((row.type, row.id)), q),
            }
            for row in page.rows
        ]
    return page_response(request, page, items)


def _texts(db: Connection, rows: list[Any]) -> dict[tuple[str, int], str | None]:
    """The text each result's snippet is cut from: its first non-empty descriptive field."""
    if not rows:
        return {}
    ids = {f"{label}_ids": [row.id for row in rows if row.type == label] for label, *_ in TYPES}
    return {(row.type, row.id): row.text for row in _TEXTS.all(db, **ids)}


def _first_text(columns: tuple[Any, ...]) -> Any:
    present = [func.nullif(column, "") for column in columns]
    return func.coalesce(*present) if len(present) > 1 else present[0]


# The texts of all three types in one statement: on PostgreSQL each statement more is a round
# trip, and a search box's page usually holds more than one type.
_TEXTS = Prepared(
    select(
        union_all(
            *(
                select(
                    literal(label).label("type"),
                    model.id.label("id"),
                    _first_text(columns).label("text"),
                ).where(in_ids(model.id, f"{label}_ids"))
                for label, model, _title, columns in TYPES
            )
        ).subquery("texts")
    ),
    lists=[f"{label}_ids" for label, *_ in TYPES],
)
