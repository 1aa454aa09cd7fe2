"""The bundle loader that the seed, ``policyfacts import`` and ``POST /v1/imports`` share.

Items are upserted by their identity (a slug; for observations indicator, period, kind and
article), so loading the same bundle twice changes nothing and an edited bundle updates in
place. Every error is collected with its place in the bundle; any error raises ``Invalid`` at
the end, and the caller's transaction, which holds everything written, is rolled back: all of
the bundle or none of it. Observations arrive in chunks, so a bundle of any size streams
through in bounded memory (``app.bundle_file``).
"""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Integer, String, and_, bindparam, func, insert, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, selectinload

from app.errors import Conflict, Invalid
from app.models import (
    Article,
    Base,
    DataVersion,
    Indicator,
    Observation,
    Sector,
    SeedItem,
    utcnow,
)
from app.prepared import BulkInsert
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
Identity = tuple[int, str, str, int]  # indicator id, period, kind, article id
Evidence = tuple[int, int, str]  # start, end, and the body's text between them
CHUNK = 2000  # observations checked and written at a time
# A load that writes this many observations refreshes PostgreSQL's planner statistics.
ANALYZE_AFTER = 10_000


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


def load_bundle(session: Session, bundle: Bundle) -> ImportResult:
    """Upsert everything in ``bundle`` in the caller's transaction, or raise ``Invalid``."""
    loader = Loader(session)
    loader.head(bundle.sectors, bundle.articles, bundle.indicators)
    numbered = list(enumerate(bundle.observations))
    for start in range(0, len(numbered), CHUNK):
        loader.observations(numbered[start : start + CHUNK])
    return loader.finish()


def load_seed(session: Session, bundle: Bundle) -> ImportResult:
    """Load the shipped seed ``bundle``: only what this database has never held.

    An item the seed loaded once (its kind and key are in ``seed_items``) is left as it is
    now, changed by a curator or deleted; an item the database holds that did not come from
    the seed (a curator made it first) is left alone too. Neither is counted as changed.
    So loading the seed again never undoes a curator's work, while an item a newer seed
    adds is created. Links to sectors that are gone are dropped, and observations of an
    indicator or article that is gone are skipped, as the curator's deletion took them.
    """
    held = {(kind, key) for kind, key in session.execute(select(SeedItem.kind, SeedItem.key))}
    ledger = {
        kind: {seed_key(kind, item): item for item in getattr(bundle, kind)} for kind in _KINDS
    }
    present = {
        kind: set(_slugs_in_db(session, model, set(ledger[kind])))
        for kind, model in (("sectors", Sector), ("articles", Article), ("indicators", Indicator))
    }
    present["observations"] = _observations_in_db(session, bundle.observations)
    fresh = {
        kind: [
            item
            for key, item in items.items()
            if (kind, key) not in held and key not in present[kind]
        ]
        for kind, items in ledger.items()
    }
    sectors = present["sectors"] | {s.slug for s in fresh["sectors"]}
    for kind in ("articles", "indicators"):
        fresh[kind] = [
            item.model_copy(update={"sectors": [s for s in item.sectors if s in sectors]})
            for item in fresh[kind]
        ]
    articles = present["articles"] | {a.slug for a in fresh["articles"]}
    indicators = present["indicators"] | {i.slug for i in fresh["indicators"]}
    fresh["observations"] = [
        o
        for o in fresh["observations"]
        if o.indicator in indicators and o.evidence.article in articles
    ]
    result = load_bundle(session, Bundle.model_validate(fresh))
    new = [{"kind": kind, "key": key} for kind, items in ledger.items() for key in items]
    new = [row for row in new if (row["kind"], row["key"]) not in held]
    if new:
        session.execute(insert(SeedItem), new)
    for kind in _KINDS:
        counts = getattr(result, kind)
        counts.unchanged = len(ledger[kind]) - counts.created - counts.updated
    return result


_KINDS = ("sectors", "articles", "indicators", "observations")


def seed_key(kind: str, item: Any) -> str:
    """How ``seed_items`` names an item: its slug; an observation by its identity."""
    if kind == "observations":
        return f"{item.indicator} {item.period} {item.kind} {item.evidence.article}"
    return str(item.slug)


def _observations_in_db(session: Session, items: Sequence[ObservationImport]) -> set[str]:
    """The ``seed_key`` of each of ``items`` that the database holds."""
    indicators = {o.indicator for o in items}
    if not indicators:
        return set()
    rows = session.execute(
        select(Indicator.slug, Observation.period, Observation.kind, Article.slug)
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .join(Article, Article.id == Observation.article_id)
        .where(Indicator.slug.in_(indicators))
    )
    return {f"{indicator} {period} {kind} {article}" for indicator, period, kind, article in rows}


@dataclass
class _Moved:
    """An article whose body changed: its old body, to check the evidence left in it."""

    index: int
    article_id: int
    slug: str
    old_body: str
    new_body: str


@dataclass
class Loader:
    """Loads one bundle: ``head`` first, then ``observations`` in chunks, then ``finish``."""

    session: Session
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, Counts] = field(
        default_factory=lambda: {
            k: Counts() for k in ("articles", "sectors", "indicators", "observations")
        }
    )
    _bodies: dict[str, tuple[int, str]] = field(default_factory=dict)  # slug: (id, body)
    _indicators: dict[str, int] = field(default_factory=dict)
    _seen: dict[Identity, int] = field(default_factory=dict)
    _moved: list[_Moved] = field(default_factory=list)
    _new_articles: set[int] = field(default_factory=set)  # made by this load: nothing cites them

    def problem(self, loc: Loc, msg: str, type_: str) -> None:
        self.errors.append({"loc": loc, "msg": msg, "type": type_})

    def head(
        self,
        sectors: Sequence[SectorCreate],
        articles: Sequence[ArticleCreate],
        indicators: Sequence[IndicatorCreate],
    ) -> None:
        """Check and write the sectors, articles and indicators."""
        session = self.session
        # A repeated slug is reported and its later copies are left out, so that the rest of
        # the bundle is still checked (and written, to be rolled back) as far as it goes.
        sector_items = self._unique_slugs("sectors", sectors)
        article_items = self._unique_slugs("articles", articles)
        indicator_items = self._unique_slugs("indicators", indicators)
        existing_sectors = _existing(session, Sector, [s.slug for _, s in sector_items])
        for _, sector in sector_items:
            self.counts["sectors"].add(_upsert_sector(session, existing_sectors, sector))
        session.flush()
        linking = {"articles": article_items, "indicators": indicator_items}
        wanted = {slug for items in linking.values() for _, item in items for slug in item.sectors}
        sector_rows = _existing(session, Sector, sorted(wanted), linked=True)
        for kind, items in linking.items():
            for i, item in items:
                for j, slug in enumerate(item.sectors):
                    if slug not in sector_rows:
                        self.problem(
                            [kind, i, "sectors", j],
                            f"no sector with slug {slug!r}",
                            "unknown_sector",
                        )
        existing_articles = _existing(
            session, Article, [a.slug for _, a in article_items], Article.sectors
        )
        new_slugs: set[str] = set()
        for i, article in article_items:
            old = existing_articles.get(article.slug)
            if old is None:
                new_slugs.add(article.slug)
            if old is not None and old.body != article.body:
                self._moved.append(_Moved(i, old.id, article.slug, old.body, article.body))
            self.counts["articles"].add(
                _upsert_article(session, existing_articles, sector_rows, article)
            )
        existing_indicators = _existing(
            session, Indicator, [i.slug for _, i in indicator_items], Indicator.sectors
        )
        for _, indicator in indicator_items:
            self.counts["indicators"].add(
                _upsert_indicator(session, existing_indicators, sector_rows, indicator)
            )
        session.flush()
        self._fetch_bodies({a.slug for _, a in article_items}, refresh=True)
        self._new_articles = {self._bodies[slug][0] for slug in new_slugs}
        self._fetch_indicators({i.slug for _, i in indicator_items})

    def invalid(self, errors: Iterable[dict[str, Any]]) -> None:
        """Errors found before an item reached the loader (a streamed item that did not
        validate), already located in the bundle."""
        self.errors.extend(errors)

    def observations(self, items: Sequence[tuple[int, ObservationImport]]) -> None:
        """Check and write a chunk of observations, each with its place in the bundle."""
        self._fetch_bodies({o.evidence.article for _, o in items})
        self._fetch_indicators({o.indicator for _, o in items})
        ready: list[tuple[Identity, ObservationImport, Evidence]] = []
        for i, obs in items:
            checked = self._checked(i, obs)
            if checked is None:
                continue
            identity, evidence = checked
            if identity in self._seen:
                self.problem(
                    ["observations", i],
                    f"same indicator, period, kind and article as item {self._seen[identity]}",
                    "duplicate",
                )
                continue
            self._seen[identity] = i
            ready.append((identity, obs, evidence))
        if not self.errors:
            _upsert_observations(
                self.session, ready, self.counts["observations"], new_articles=self._new_articles
            )

    def replace(self, observation_id: int, item: ObservationImport) -> None:
        """Write ``item`` over the observation ``observation_id`` (a PATCH), checked as an
        observation of a bundle is; it may move to another period, kind or article, but not
        onto another observation's identity (a 409)."""
        self._fetch_bodies({item.evidence.article})
        self._fetch_indicators({item.indicator})
        checked = self._checked(0, item)
        if checked is None:
            return
        identity, evidence = checked
        other = self.session.scalar(
            select(Observation.id).where(
                Observation.indicator_id == identity[0],
                Observation.period == identity[1],
                Observation.kind == identity[2],
                Observation.article_id == identity[3],
                Observation.id != observation_id,
            )
        )
        if other is not None:
            raise Conflict(
                f"Observation {other} already has that indicator, period, kind and article."
            )
        row = self.session.execute(
            select(*_IDENTITY, *_VALUES).where(Observation.id == observation_id)
        ).one()
        values = {**dict(zip(_IDENTITY_NAMES, identity, strict=True)), **_values(item, evidence)}
        changed = any(getattr(row, name) != value for name, value in values.items())
        if changed:
            first, last = _period_bounds(item.period)
            self.session.execute(
                update(Observation)
                .where(Observation.id == observation_id)
                .values(**values, period_start=first, period_end=last, updated_at=utcnow())
            )
        self.counts["observations"].add(changed)

    def _checked(self, i: int, obs: ObservationImport) -> tuple[Identity, Evidence] | None:
        """The identity and evidence of item ``i``, or None with its problems reported."""
        indicator_id = self._indicators.get(obs.indicator)
        article = self._bodies.get(obs.evidence.article)
        if indicator_id is None:
            self.problem(
                ["observations", i, "indicator"],
                f"no indicator with slug {obs.indicator!r}",
                "unknown_indicator",
            )
        if article is None:
            self.problem(
                ["observations", i, "evidence", "article"],
                f"no article with slug {obs.evidence.article!r}",
                "unknown_article",
            )
            return None
        span = find_quote(article[1], obs.evidence.quote, obs.evidence.start, obs.evidence.end)
        if isinstance(span, str):
            self.problem(["observations", i, "evidence", "quote"], span, "evidence")
            return None
        if indicator_id is None:
            return None
        identity = (indicator_id, obs.period, str(obs.kind), article[0])
        return identity, (*span, article[1][span[0] : span[1]])

    def finish(self) -> ImportResult:
        """The counts, or ``Invalid`` with every error found."""
        self._check_moved_evidence()
        if self.errors:
            raise Invalid(
                f"The bundle has {len(self.errors)} error(s); nothing was loaded.",
                errors=self.errors,
            )
        if any(c.created or c.updated for c in self.counts.values()):
            bump_version(self.session)
        observations = self.counts["observations"]
        if observations.created + observations.updated >= ANALYZE_AFTER:
            _refresh_statistics(self.session)
        return ImportResult.model_validate({k: vars(v) for k, v in self.counts.items()})

    def _unique_slugs(self, kind: str, items: Sequence[Any]) -> list[tuple[int, Any]]:
        """The items with their place in the bundle, without later copies of a slug."""
        seen: dict[str, int] = {}
        unique = []
        for i, item in enumerate(items):
            if item.slug in seen:
                self.problem(
                    [kind, i, "slug"],
                    f"slug {item.slug!r} is also item {seen[item.slug]}",
                    "duplicate",
                )
                continue
            seen[item.slug] = i
            unique.append((i, item))
        return unique

    def _fetch_bodies(self, slugs: set[str], *, refresh: bool = False) -> None:
        wanted = slugs if refresh else slugs - set(self._bodies)
        if wanted:
            for slug, article_id, body in self.session.execute(
                select(Article.slug, Article.id, Article.body).where(Article.slug.in_(wanted))
            ):
                self._bodies[slug] = (article_id, body)

    def _fetch_indicators(self, slugs: set[str]) -> None:
        wanted = slugs - set(self._indicators)
        if wanted:
            self._indicators.update(
                self.session.execute(
                    select(Indicator.slug, Indicator.id).where(Indicator.slug.in_(wanted))
                ).all()
            )

    def _check_moved_evidence(self) -> None:
        """A changed body must still hold the quotes of the observations the bundle left
        alone (those it restated were checked against the new body already)."""
        for moved in self._moved:
            rows = self.session.execute(
                select(
                    Observation.indicator_id,
                    Observation.period,
                    Observation.kind,
                    Observation.quote_start,
                    Observation.quote_end,
                    Indicator.slug,
                )
                .join(Indicator, Indicator.id == Observation.indicator_id)
                .where(Observation.article_id == moved.article_id)
            )
            for indicator_id, period, kind, start, end, slug in rows:
                if (indicator_id, period, kind, moved.article_id) in self._seen:
                    continue
                if moved.new_body[start:end] != moved.old_body[start:end]:
                    self.problem(
                        ["articles", moved.index, "body"],
                        f"the new body moves the evidence of {slug} {period} {kind}",
                        "evidence_moved",
                    )


def _refresh_statistics(session: Session) -> None:
    """Right after a big load PostgreSQL has no statistics on it until autovacuum comes
    by, and plans as if a rare kind were common: a page of targets at a million rows took
    200 ms (an index walk filtering out every actual) instead of 2 ms. SQLite is left
    without: with them it planned a keyset page at a million rows as a sort of every row
    (seconds, against 3 ms), and the statements of the hot reads are written to leave it
    one reasonable plan."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE observations, articles, indicators"))


def bump_version(session: Session) -> None:
    """Mark the data as changed, for every process's cache validators."""
    session.execute(
        update(DataVersion).where(DataVersion.id == 1).values(version=DataVersion.version + 1)
    )


# --- checks and writes ----------------------------------------------------------------


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


# --- writes ---------------------------------------------------------------------------------


def _existing(
    session: Session, model: Any, slugs: list[str], *load: Any, linked: bool = False
) -> dict[str, Any]:
    """The rows with these slugs, locked on PostgreSQL until the transaction ends (SQLite's
    writer holds the whole database): for update, so that what the load compares is what
    it overwrites; or, ``linked``, only against deletion (FOR KEY SHARE), for the sectors an
    article or indicator is linked to. In the order of their ids, as every load takes them,
    so that two loads of overlapping bundles queue instead of deadlocking."""
    if not slugs:
        return {}
    statement = select(model).where(model.slug.in_(slugs)).order_by(model.id)
    if session.get_bind().dialect.name != "sqlite":
        statement = statement.with_for_update(read=linked, key_share=linked)
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
    linked = [sectors[s] for s in sorted(set(item.sectors)) if s in sectors]
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
    linked = [sectors[s] for s in sorted(set(item.sectors)) if s in sectors]
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


_COMPARED = ("value", "comparator", "unit", "value_text", "quote_start", "quote_end", "quote")
_VALUES = tuple(getattr(Observation, name) for name in _COMPARED)
_IDENTITY_NAMES = ("indicator_id", "period", "kind", "article_id")  # as ``Identity`` holds it
_IDENTITY = tuple(getattr(Observation, name) for name in _IDENTITY_NAMES)


def _values(item: ObservationImport, evidence: Evidence) -> dict[str, Any]:
    """The columns of ``_COMPARED`` for ``item`` with its checked ``evidence``."""
    start, end, quote = evidence
    return {
        "value": item.value,
        "comparator": None if item.comparator is None else str(item.comparator),
        "unit": item.unit,
        "value_text": item.value_text,
        "quote_start": start,
        "quote_end": end,
        "quote": quote,
    }


_INSERT = BulkInsert(
    Base.metadata.tables["observations"],
    # The identity, the period's dates, the timestamps, then the values: the order in which
    # _upsert_observations builds its rows.
    [
        "indicator_id",
        "period",
        "kind",
        "article_id",
        "period_start",
        "period_end",
        "created_at",
        "updated_at",
        *_COMPARED,
    ],
)
# Periods repeat over a whole bundle: their bounds are worked out once each.
_period_bounds = functools.lru_cache(maxsize=4096)(period_bounds)


def _upsert_observations(
    session: Session,
    items: list[tuple[Identity, ObservationImport, Evidence]],
    counts: Counts,
    *,
    new_articles: set[int],
) -> None:
    """Insert or update a chunk of checked observations, in four statements at most."""
    if not items:
        return
    # Observations citing an article this load created cannot exist yet: no need to look.
    known = [identity for identity, _, _ in items if identity[3] not in new_articles]
    existing = _stored_observations(session, known)
    now = utcnow()
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[dict[str, Any], tuple[Any, ...]]] = []  # and the row to insert instead
    for identity, item, evidence in items:
        values = _values(item, evidence)
        first, last = _period_bounds(item.period)
        new_row = (*identity, first, last, now, now, *(values[name] for name in _COMPARED))
        row = existing.get(identity)
        if row is None:
            inserts.append(new_row)
            counts.add(None)
        elif any(getattr(row, name) != value for name, value in values.items()):
            updates.append(({"id": row.id, "updated_at": now, **values}, new_row))
        else:
            counts.add(False)
    kept = _lock_observations(session, [change["id"] for change, _ in updates])
    for change, new_row in updates:
        if change["id"] in kept:
            counts.add(True)
        else:  # deleted since it was read: this load comes after that delete
            inserts.append(new_row)
            counts.add(None)
    _INSERT.run(session.connection(), inserts)
    changes = [change for change, _ in updates if change["id"] in kept]
    if changes:
        session.execute(update(Observation), changes)


def _lock_observations(session: Session, ids: list[int]) -> set[int]:
    """Those of ``ids`` still stored, locked until the transaction ends, in the order of
    their ids (as every load locks them: two loads queue instead of deadlocking).

    The chunk's lookup takes no lock: a re-import that changes nothing would lock, and so
    write, every row it reads. The rows it will update are locked before they are written;
    one deleted meanwhile (a DELETE that committed after the lookup) is no longer there,
    and is inserted again instead of failing the load. SQLite's writer holds the database.
    """
    if not ids:
        return set()
    if session.get_bind().dialect.name == "sqlite":
        return set(ids)
    statement = (
        select(Observation.id)
        .where(Observation.id.in_(ids))
        .order_by(Observation.id)
        .with_for_update()
    )
    return set(session.scalars(statement))


_STORED = (Observation.id, *_IDENTITY, *_VALUES)
# On PostgreSQL the identities travel as four arrays, one per column of the key (and the
# driver prepares the statement once it repeats).
_WANTED = (
    func.unnest(
        bindparam("indicator_ids", type_=ARRAY(Integer)),
        bindparam("periods", type_=ARRAY(String)),
        bindparam("kinds", type_=ARRAY(String)),
        bindparam("article_ids", type_=ARRAY(Integer)),
    )
    .table_valued(*(column.key for column in _IDENTITY))
    .render_derived(name="wanted")
)
_FOUND = (
    select(*_STORED)
    .where(*(column == _WANTED.c[column.key] for column in _IDENTITY))
    .limit(1)  # the key is unique: it changes no answer, it keeps the plan a lookup
    .lateral("found")
)
_STORED_POSTGRESQL = select(_FOUND).select_from(_WANTED).join(_FOUND, true())
# On SQLite, as one JSON array of identities (as app.prepared.in_ids does for ids).
_IDENTITIES = func.json_each(bindparam("identities")).table_valued("value", name="wanted")
_STORED_SQLITE = (
    select(*_STORED)
    .select_from(_IDENTITIES)
    .join(
        Observation,
        and_(
            *(
                column == func.json_extract(_IDENTITIES.c.value, f"$[{i}]")
                for i, column in enumerate(_IDENTITY)
            )
        ),
    )
)


def _stored_observations(session: Session, identities: list[Identity]) -> dict[Identity, Any]:
    """The stored observations that have these identities, by identity, found through the
    identity index one by one: a chunk's lookup costs in proportion to the chunk, not to
    the table, and its statement's text is the same for any chunk.

    Written as ``(indicator_id, period, kind, article_id) IN (...)``, PostgreSQL planned a
    chunk of 2,000 as a BitmapOr of 2,000 index scans (1.6 s of planning per chunk: a
    re-import of 50,000 unchanged observations took 45 s, their creation 8 s), and SQLite
    scanned the whole table for each chunk. Joined to the identities as a table, SQLite
    searches the index for each; PostgreSQL hashed every stored observation, so there each
    identity is a lateral lookup, which the planner cannot turn into a scan.
    """
    if not identities:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        names = ("indicator_ids", "periods", "kinds", "article_ids")
        columns = map(list, zip(*identities, strict=True))
        rows = session.execute(_STORED_POSTGRESQL, dict(zip(names, columns, strict=True)))
    else:
        rows = session.execute(_STORED_SQLITE, {"identities": orjson.dumps(identities).decode()})
    return {(r.indicator_id, r.period, r.kind, r.article_id): r for r in rows}
