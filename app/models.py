"""SQLAlchemy 2.0 models. Migrations (``migrations/``) are the only way they reach a database."""

from datetime import UTC, date, datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import column

# Names for every constraint and index, so that migrations (SQLite batch mode and downgrades
# included) never depend on names a database invented.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KINDS = ("actual", "target", "plan", "forecast")
COMPARATORS = ("eq", "approx", "gt", "gte", "lt", "lte")
FREQUENCIES = ("annual", "quarterly", "monthly")
BETTER = ("higher", "lower", "neutral")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


article_sectors = Table(
    "article_sectors",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("sector_id", ForeignKey("sectors.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_article_sectors_sector_id", "sector_id", "article_id"),
)

indicator_sectors = Table(
    "indicator_sectors",
    Base.metadata,
    Column("indicator_id", ForeignKey("indicators.id", ondelete="CASCADE"), primary_key=True),
    Column("sector_id", ForeignKey("sectors.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_indicator_sectors_sector_id", "sector_id", "indicator_id"),
)


class Article(Timestamped, Base):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_published_at_id", "published_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(500), index=True)
    subtitle: Mapped[str | None] = mapped_column(String(1000))
    author: Mapped[str | None] = mapped_column(String(200))
    section: Mapped[str | None] = mapped_column(String(200))
    dateline: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    language: Mapped[str] = mapped_column(String(35), default="en")
    source_name: Mapped[str | None] = mapped_column(String(200))
    source_url: Mapped[str | None] = mapped_column(String(2000))
    summary: Mapped[str | None] = mapped_column(Text)
    # Stored exactly as loaded: evidence offsets point into it.
    body: Mapped[str] = mapped_column(Text)

    sectors: Mapped[list["Sector"]] = relationship(
        secondary=article_sectors, lazy="raise", order_by="Sector.slug"
    )


class Sector(Timestamped, Base):
    __tablename__ = "sectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str | None] = mapped_column(Text)


class Indicator(Timestamped, Base):
    __tablename__ = "indicators"
    __table_args__ = (
        CheckConstraint(_in("frequency", FREQUENCIES), name="frequency"),
        CheckConstraint(_in("better", BETTER), name="better"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(40), index=True)
    geography: Mapped[str] = mapped_column(String(3), index=True)
    frequency: Mapped[str] = mapped_column(String(10))
    better: Mapped[str] = mapped_column(String(10))

    sectors: Mapped[list[Sector]] = relationship(
        secondary=indicator_sectors, lazy="raise", order_by=Sector.slug
    )


class Observation(Timestamped, Base):
    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint(
            "indicator_id", "period", "kind", "article_id", name="uq_observations_identity"
        ),
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(
            f"comparator IS NULL OR {_in('comparator', COMPARATORS)}", name="comparator"
        ),
        CheckConstraint("quote_start >= 0 AND quote_end > quote_start", name="evidence_span"),
        CheckConstraint("period_end >= period_start", name="period_span"),
        Index("ix_observations_indicator_period", "indicator_id", "period_start", "id"),
        Index("ix_observations_period", "period_start", "id"),
        Index("ix_observations_article_id", "article_id"),
        Index("ix_observations_kind_period", "kind", "period_start", "id"),
        # Each indicator's newest observation of a kind (queries.latest_observations).
        Index("ix_observations_indicator_kind_period_end", "indicator_id", "kind", "period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    # The period as dates, so that period filters and sorts are plain index range scans.
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    comparator: Mapped[str | None] = mapped_column(String(6))
    unit: Mapped[str | None] = mapped_column(String(40))
    value_text: Mapped[str] = mapped_column(String(500))
    quote_start: Mapped[int] = mapped_column(Integer)
    quote_end: Mapped[int] = mapped_column(Integer)
    # The article body's text at [quote_start, quote_end), written with the offsets: cutting
    # it from the body on each read cost in proportion to how deep in the body it sits.
    quote: Mapped[str] = mapped_column(Text)

    indicator: Mapped[Indicator] = relationship(lazy="raise")
    article: Mapped[Article] = relationship(lazy="raise")


class DataVersion(Base):
    """One row counting committed writes: cache validators of every process derive from it."""

    __tablename__ = "data_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


_ACTIVE = column("revoked_at").is_(None)


class ApiKey(Base):
    """A key that may write. Only a hash of the key is stored; the key is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        # One live key per name; a revoked key's name may be given to a new key.
        Index(
            "ix_api_keys_active_name",
            "name",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the key find the row; the hash proves the rest.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Secret(Base):
    """A value the service makes for itself and every instance on the database shares (the
    key that signs cursors, when none is configured)."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class SeedItem(Base):
    """An item of the shipped seed that this database has held: loading the seed again never
    brings it back once deleted, nor restores what a curator changed (app.importer)."""

    __tablename__ = "seed_items"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
