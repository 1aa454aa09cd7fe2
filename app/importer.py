"""The bundle loader that the seed, ``policyfacts import`` and ``POST /v1/imports`` share.

A bundle is checked whole before anything is written: every error is collected with its place
in the bundle, and any error means nothing changes. Items are upserted by their identity (a
slug; for observations indicator, period, kind and article), so loading the same bundle twice
changes nothing and an edited bundle updates in place.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, selectinload

from app.errors import Invalid
from app.models import Article, DataVersion, Indicator, Observation, Sector, utcnow
from app.schemas import (
    ArticleCreate,
    Bundle,
    ImportResult,
    IndicatorCreate,
    ObservationImport,
    SectorCreate,
    period_bounds,
)

Loc = list[str | int]


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, changed: bool | None) -> None:
        """``None`` for a new item, else whether an existing one changed."""
        if changed is None:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1


@dataclass
class _Problems:
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, loc: Loc, msg: str, type_: str) -> None:
        self.errors.append({"loc": loc, "msg": msg, "type": type_})


def load_bundle(session: Session, bundle: Bundle) -> ImportResult:
    """Upsert everything in ``bundle`` in the caller's transaction, or raise ``Invalid``."""
    problems = _Problems()
    _check_unique(problems, bundle)
    sectors = _existing(session, Sector, [s.slug for s in bundle.sectors])
    known_sectors = set(sectors) | {s.slug for s in bundle.sectors}
    known_sectors |= _slugs_in_db(session, Sector, _referenced_sectors(bundle) - known_sectors)
    for kind, items in (("articles", bundle.articles), ("indicators", bundle.indicators)):
        for i, item in enumerate(items):
            for j, slug in enumerate(item.sectors):
                if slug not in known_sectors:
                    problems.add(
                        [kind, i, "sectors", j], f"no sector with slug {slug!r}", "unknown_sector"
                    )
    articles = _existing(session, Article, [a.slug for a in bundle.articles], Article.sectors)
    indicators = _existing(
        session, Indicator, [i.slug for i in bundle.indicators], Indicator.sectors
    )
    spans = _check_observations(session, problems, bundle)
    _check_bodies(session, problems, bundle, articles)
    if problems.errors:
        raise Invalid(
            f"The bundle has {len(problems.errors)} error(s); nothing was loaded.",
            errors=problems.errors,
        )

    result = {name: Counts() for name in ("articles", "sectors", "indicators", "observations")}
    for item in bundle.sectors:
        result["sectors"].add(_upsert_sector(session, sectors, item))
    session.flush()
    sector_rows = _existing(session, Sector, sorted(_referenced_sectors(bundle)))
    for item in bundle.articles:
        result["articles"].add(_upsert_article(session, articles, sector_rows, item))
    for item in bundle.indicators:
        result["indicators"].add(_upsert_indicator(session, indicators, sector_rows, item))
    session.flush()
    _upsert_observations(session, bundle.observations, spans, result["observations"])
    if any(c.created or c.updated for c in result.values()):
        bump_version(session)
    return ImportResult.model_validate({k: vars(v) for k, v in result.items()})


def bump_version(session: Session) -> None:
    """Mark the data as changed, for every process's cache validators."""
    session.execute(
        update(DataVersion).where(DataVersion.id == 1).values(version=DataVersion.version + 1)
    )


# --- checks ---------------------------------------------------------------------------------


def _check_unique(problems: _Problems, bundle: Bundle) -> None:
    for kind, items in (
        ("articles", bundle.articles),
        ("sectors", bundle.sectors),
        ("indicators", bundle.indicators),
    ):
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.slug in seen:
                problems.add(
                    [kind, i, "slug"],
                    f"slug {item.slug!r} is also item {seen[item.slug]}",
                    "duplicate",
                )
            seen.setdefault(item.slug, i)
    identities: dict[tuple[str, str, str, str], int] = {}
    for i, obs in enumerate(bundle.observations):
        identity = (obs.indicator, obs.period, obs.kind, obs.evidence.article)
        if identity in identities:
            problems.add(
                ["observations", i],
                f"same indicator, period, kind and article as item {identities[identity]}",
                "duplicate",
            )
        identities.setdefault(identity, i)


def _referenced_sectors(bundle: Bundle) -> set[str]:
    items: Iterable[ArticleCreate | IndicatorCreate] = [*bundle.articles, *bundle.indicators]
    return {slug for item in items for slug in item.sectors} | {s.slug for s in bundle.sectors}


def _check_observations(
    session: Session, problems: _Problems, bundle: Bundle
) -> list[tuple[int, int]]:
    """Each observation's evidence span, found or checked in its article's body."""
    bodies = {a.slug: a.body for a in bundle.articles}
    wanted = {o.evidence.article for o in bundle.observations} - set(bodies)
    if wanted:
        bodies.update(
            session.execute(
                select(Article.slug, Article.body).where(Article.slug.in_(wanted))
            ).all()
        )
    indicators = {i.slug for i in bundle.indicators}
    indicators |= _slugs_in_db(
        session, Indicator, {o.indicator for o in bundle.observations} - indicators
    )
    spans: list[tuple[int, int]] = []
    for i, obs in enumerate(bundle.observations):
        if obs.indicator not in indicators:
            problems.add(
                ["observations", i, "indicator"],
                f"no indicator with slug {obs.indicator!r}",
                "unknown_indicator",
            )
        body = bodies.get(obs.evidence.article)
        if body is None:
            problems.add(
                ["observations", i, "evidence", "article"],
                f"no article with slug {obs.evidence.article!r}",
                "unknown_article",
            )
            spans.append((0, 0))
            continue
        span = find_quote(body, obs.evidence.quote, obs.evidence.start, obs.evidence.end)
        if isinstance(span, str):
            problems.add(["observations", i, "evidence", "quote"], span, "evidence")
            spans.append((0, 0))
        else:
            spans.append(span)
    return spans


def find_quote(body: str, quote: str, start: int | None, end: int | None) -> tuple[int, int] | str:
    """The span of ``quote`` in ``body``, or why there is none."""
    if start is not None or end is not None:
        if start is None or end is None:
            return "give both start and end, or neither"
        if body[start:end] != quote:
            return f"body[{start}:{end}] is not the quote"
        return start, end
    at = body.find(quote)
    if at < 0:
        return "the quote is not in the article body"
    if body.find(quote, at + 1) >= 0:
        return "the quote occurs more than once in the body; give start and end"
    return at, at + len(quote)


def _check_bodies(
    session: Session, problems: _Problems, bundle: Bundle, articles: dict[str, Any]
) -> None:
    """A changed body must still hold the quotes of the observations the bundle leaves alone."""
    restated = {(o.indicator, o.period, o.kind, o.evidence.article) for o in bundle.observations}
    for i, item in enumerate(bundle.articles):
        old = articles.get(item.slug)
        if old is None or old.body == item.body:
            continue
        rows = session.execute(
            select(
                Indicator.slug,
                Observation.period,
                Observation.kind,
                Observation.quote_start,
                Observation.quote_end,
            )
            .join(Indicator, Indicator.id == Observation.indicator_id)
            .where(Observation.article_id == old.id)
        )
        for slug, period, kind, start, end in rows:
            if (slug, period, kind, item.slug) in restated:
                continue
            if item.body[start:end] != old.body[start:end]:
                problems.add(
                    ["articles", i, "body"],
                    f"the new body moves the evidence of {slug} {period} {kind}",
                    "evidence_moved",
                )


# --- writes ---------------------------------------------------------------------------------


def _existing(session: Session, model: Any, slugs: list[str], *load: Any) -> dict[str, Any]:
    if not slugs:
        return {}
    statement = select(model).where(model.slug.in_(slugs))
    if load:
        statement = statement.options(*(selectinload(rel) for rel in load))
    return {row.slug: row for row in session.scalars(statement)}


def _slugs_in_db(session: Session, model: Any, slugs: set[str]) -> set[str]:
    if not slugs:
        return set()
    return set(session.scalars(select(model.slug).where(model.slug.in_(slugs))))


def _assign(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _upsert_sector(
    session: Session, existing: dict[str, Sector], item: SectorCreate
) -> bool | None:
    values = item.model_dump()
    row = existing.get(item.slug)
    if row is None:
        session.add(Sector(**values))
        return None
    return _assign(row, values)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _upsert_article(
    session: Session, existing: dict[str, Article], sectors: dict[str, Sector], item: ArticleCreate
) -> bool | None:
    values = item.model_dump(exclude={"source", "sectors"})
    values["published_at"] = _utc(item.published_at)
    values["source_name"] = item.source.name
    values["source_url"] = item.source.url
    linked = [sectors[s] for s in sorted(set(item.sectors))]
    row = existing.get(item.slug)
    if row is None:
        session.add(Article(**values, sectors=linked))
        return None
    stored = row.published_at
    if (stored if stored.tzinfo else stored.replace(tzinfo=UTC)) == values["published_at"]:
        del values["published_at"]  # SQLite hands back naive UTC: the same instant
    changed = _assign(row, values)
    if [s.slug for s in row.sectors] != [s.slug for s in linked]:
        row.sectors = linked
        changed = True
    if changed:
        row.updated_at = utcnow()
    return changed


def _upsert_indicator(
    session: Session,
    existing: dict[str, Indicator],
    sectors: dict[str, Sector],
    item: IndicatorCreate,
) -> bool | None:
    values = item.model_dump(exclude={"sectors"})
    linked = [sectors[s] for s in sorted(set(item.sectors))]
    row = existing.get(item.slug)
    if row is None:
        session.add(Indicator(**values, sectors=linked))
        return None
    changed = _assign(row, values)
    if [s.slug for s in row.sectors] != [s.slug for s in linked]:
        row.sectors = linked
        changed = True
    if changed:
        row.updated_at = utcnow()
    return changed


_COMPARED = ("value", "comparator", "unit", "value_text", "quote_start", "quote_end")


def _upsert_observations(
    session: Session, items: list[ObservationImport], spans: list[tuple[int, int]], counts: Counts
) -> None:
    if not items:
        return
    indicator_ids = dict(
        session.execute(
            select(Indicator.slug, Indicator.id).where(
                Indicator.slug.in_({o.indicator for o in items})
            )
        ).all()
    )
    article_ids = dict(
        session.execute(
            select(Article.slug, Article.id).where(
                Article.slug.in_({o.evidence.article for o in items})
            )
        ).all()
    )
    existing = {
        (row.indicator_id, row.period, row.kind, row.article_id): row
        for row in session.execute(
            select(
                Observation.id,
                Observation.indicator_id,
                Observation.period,
                Observation.kind,
                Observation.article_id,
                *(getattr(Observation, name) for name in _COMPARED),
            ).where(Observation.indicator_id.in_(set(indicator_ids.values())))
        )
    }
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for item, (start, end) in zip(items, spans, strict=True):
        first, last = period_bounds(item.period)
        values = {
            "value": item.value,
            "comparator": item.comparator,
            "unit": item.unit,
            "value_text": item.value_text,
            "quote_start": start,
            "quote_end": end,
        }
        key = (
            indicator_ids[item.indicator],
            item.period,
            item.kind,
            article_ids[item.evidence.article],
        )
        row = existing.get(key)
        if row is None:
            inserts.append(
                {
                    "indicator_id": key[0],
                    "period": item.period,
                    "kind": item.kind,
                    "article_id": key[3],
                    "period_start": first,
                    "period_end": last,
                    "created_at": now,
                    "updated_at": now,
                    **values,
                }
            )
            counts.add(None)
        elif any(getattr(row, name) != value for name, value in values.items()):
            updates.append({"id": row.id, "updated_at": now, **values})
            counts.add(True)
        else:
            counts.add(False)
    if inserts:
        session.execute(insert(Observation), inserts)
    if updates:
        session.execute(update(Observation), updates)
