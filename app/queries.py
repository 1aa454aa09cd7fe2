"""Reads shared by several routers: observations as the API shows them, and small lookups."""

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    bindparam,
    case,
    false,
    func,
    literal,
    select,
)

from app.db import AnyRow, AnySelect, Column, ReadConnections
from app.models import Article, DataVersion, Indicator, Observation, Sector, indicator_sectors
from app.prepared import Prepared, in_ids
from app.schemas import is_slug, period_bounds


@functools.lru_cache(maxsize=4096)
def iso(value: datetime) -> str:
    """ISO 8601 with offset; SQLite hands back naive datetimes, which are stored in UTC.

    Kept for the last few thousand instants: the rows of one import share their timestamps,
    and a page of 100 observations formatted 200 of them, a tenth of its time."""
    if value.tzinfo is None:
        return value.isoformat() + "+00:00"
    return value.astimezone(UTC).isoformat()


def observation_select() -> AnySelect:
    """Every column an observation needs, joined to its indicator and article.

    Built once: making a statement costs SQLAlchemy more than running it on SQLite does, so
    the statements of the hot paths are module constants that callers refine.
    """
    return _OBSERVATIONS


_OBSERVATIONS: AnySelect = (
    select(
        Observation.id,
        Indicator.slug.label("indicator"),
        Observation.period,
        Observation.kind,
        Observation.value,
        Observation.comparator,
        Observation.unit,
        Observation.value_text,
        Article.slug.label("article"),
        Observation.quote,
        Observation.quote_start,
        Observation.quote_end,
        Observation.created_at,
        Observation.updated_at,
    )
    .join(Indicator, Indicator.id == Observation.indicator_id)
    .join(Article, Article.id == Observation.article_id)
)


def observation_dict(row: AnyRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "indicator": row.indicator,
        "period": row.period,
        "kind": row.kind,
        "value": row.value,
        "comparator": row.comparator,
        "unit": row.unit,
        "value_text": row.value_text,
        "evidence": {
            "article": row.article,
            "quote": row.quote,
            "start": row.quote_start,
            "end": row.quote_end,
        },
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def observation_filters(
    *,
    kinds: Sequence[str] | None = None,
    period: str | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
) -> list[ColumnElement[bool]]:
    """Conditions for the filters that every observation list shares."""
    conditions: list[ColumnElement[bool]] = []
    if kinds:
        conditions.append(Observation.kind.in_(kinds))
    if period is not None:
        # The start date lets the (period_start, id) index find the rows.
        conditions += [
            Observation.period_start == period_bounds(period)[0],
            Observation.period == period,
        ]
    if period_from is not None:
        conditions.append(Observation.period_start >= period_bounds(period_from)[0])
    if period_to is not None:
        conditions.append(Observation.period_end <= period_bounds(period_to)[1])
    return conditions


def is_named(column: Column, slug: str) -> ColumnElement[bool]:
    """``column`` equals ``slug``; a value that is no slug at all names nothing, and is not
    sent to a database that might refuse it (PostgreSQL refuses a NUL byte)."""
    return column == slug if is_slug(slug) else false()


def in_sector(column: Column, link_column: Any, link_key: Any, sector: str) -> ColumnElement[bool]:
    """``column`` is linked to the sector with slug ``sector`` through a link table."""
    return column.in_(
        select(link_key).join(Sector, Sector.id == link_column).where(is_named(Sector.slug, sector))
    )


def indicator_in_sector(sector: str) -> ColumnElement[bool]:
    return in_sector(
        Indicator.id, indicator_sectors.c.sector_id, indicator_sectors.c.indicator_id, sector
    )


def sector_slugs(link: Table, owner_key: Column, owner: Column) -> ColumnElement[Any]:
    """A column of the owner's own statement (an article's or an indicator's): the slugs of
    its sectors, comma-separated (a slug holds no comma), to be read with ``slug_list``. In
    the owner's statement, not one of their own: on PostgreSQL a statement more was a round
    trip and a fifth of the client's work in a detail."""
    return (
        select(func.aggregate_strings(Sector.slug, ","))
        .join(link, link.c.sector_id == Sector.id)
        .where(owner_key == owner)
        .scalar_subquery()
        .label("sectors")
    )


def slug_list(joined: str | None) -> list[str]:
    """The slugs of a ``sector_slugs`` column, sorted."""
    return sorted(joined.split(",")) if joined else []


# The dialects that know MATERIALIZED for a CTE (see _latest): SQLite from 3.35 on.
_MATERIALIZES = (
    ("postgresql", "sqlite") if sqlite3.sqlite_version_info >= (3, 35) else ("postgresql",)
)


def _constant(value: Any) -> ColumnElement[Any]:
    """``value`` written into the statement rather than bound. With the ids of ``latest``
    its only parameter, PostgreSQL settles on one plan for all executions of the prepared
    statement (a generic plan) where it planned each afresh while the roles and the limit
    were bound too: 20 indicators at scale, 0.67 against 1.15 ms in-process."""
    return literal(value, literal_execute=True)


def _latest(indicators: ColumnElement[bool]) -> AnySelect:
    """Per indicator of ``indicators``, its most recent actual and its most recent target or
    plan, as the rows of ``observation_select`` with the indicator's id and the role
    (``actual`` or ``target``), in one statement: on PostgreSQL a statement's round trip and
    the client's work around it cost more than the lookups.

    Each role is a subquery of its own, correlated to the indicator, that reads that
    indicator's observations of the role newest period first by the (indicator_id, kind,
    period_end) index and stops at the first: a few page reads, however many observations
    the indicator has. Driven from the indicators table alone, so that no planner can choose
    to walk the observations first (SQLite without statistics did, once a rebuilt table had
    changed the order of its indexes).
    """
    columns: list[Any] = [Indicator.id.label("indicator_id")]
    for role, kinds in (("actual", ("actual",)), ("target", ("target", "plan"))):
        columns.append(
            select(Observation.id)
            .join(Article, Article.id == Observation.article_id)
            .where(
                Observation.indicator_id == Indicator.id,
                Observation.kind.in_([_constant(kind) for kind in kinds]),
            )
            .order_by(
                Observation.period_end.desc(),
                Article.published_at.desc(),
                Observation.id.desc(),
            )
            .limit(_constant(1))
            .scalar_subquery()
            .label(role)
        )
    # Materialized, so that each indicator's subqueries run once, not once per join
    # condition and again for the role: 20 indicators at scale took 1.26 against 1.47 ms on
    # PostgreSQL, and 116 against 151 us on SQLite, which knows the word from 3.35 on. (A
    # branch per role was as fast on SQLite, and 0.2 ms slower to plan on PostgreSQL.)
    ids = select(*columns).where(indicators).cte("latest")
    for dialect in _MATERIALIZES:
        ids = ids.prefix_with("MATERIALIZED", dialect=dialect)
    which = case(
        (Observation.id == ids.c.actual, _constant("actual")), else_=_constant("target")
    ).label("role")
    return (
        observation_select()
        .add_columns(ids.c.indicator_id, which)
        .join(ids, Observation.id.in_([ids.c.actual, ids.c.target]))
    )


_LATEST = Prepared(_latest(in_ids(Indicator.id)), lists=["ids"])
# For one indicator (a detail, or a list of one), a statement of its own: PostgreSQL kept
# planning the one above afresh for a single id, whose plan it estimates cheaper than the
# generic one, while this one it plans once (0.31 against 0.85 ms a lookup in psql).
_LATEST_ONE = Prepared(_latest(Indicator.id == bindparam("id")))


def latest_observations(db: Connection, indicator_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """For each indicator, its most recent actual and its most recent target or plan: of the
    newest period, as stated by the most recently published article."""
    ids = list(indicator_ids)
    latest: dict[int, dict[str, Any]] = {i: {"actual": None, "target": None} for i in ids}
    if ids:
        rows = _LATEST_ONE.all(db, id=ids[0]) if len(ids) == 1 else _LATEST.all(db, ids=ids)
        for row in rows:
            latest[row.indicator_id][row.role] = observation_dict(row)
    return latest


_DATA_VERSION = Prepared(select(DataVersion.version).where(DataVersion.id == 1))


def data_version(db: Connection) -> int:
    """The count of committed writes, shared by every process on the database."""
    row = _DATA_VERSION.one_or_none(db)
    return row.version if row is not None else 0


def read_data_version(connections: ReadConnections) -> int:
    """The data version, read on a connection of its own."""
    with connections() as connection:
        return data_version(connection)
