"""Initial schema: articles, sectors, indicators, observations, their links, full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration must not change when the application code does.
SEARCH_COLUMNS = {
    "articles": {"title": "A", "subtitle": "B", "summary": "B", "author": "C", "body": "D"},
    "sectors": {"name": "A", "description": "B"},
    "indicators": {"name": "A", "description": "B"},
}


def timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("subtitle", sa.String(length=1000), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("section", sa.String(length=200), nullable=True),
        sa.Column("dateline", sa.String(length=200), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("source_name", sa.String(length=200), nullable=True),
        sa.Column("source_url", sa.String(length=2000), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
        sa.UniqueConstraint("slug", name=op.f("uq_articles_slug")),
    )
    op.create_index("ix_articles_published_at_id", "articles", ["published_at", "id"])
    op.create_index(op.f("ix_articles_title"), "articles", ["title"])

    op.create_table(
        "sectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        *timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sectors")),
        sa.UniqueConstraint("slug", name=op.f("uq_sectors_slug")),
    )
    op.create_index(op.f("ix_sectors_name"), "sectors", ["name"])

    op.create_table(
        "indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=40), nullable=True),
        sa.Column("geography", sa.String(length=3), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("better", sa.String(length=10), nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "frequency IN ('annual', 'quarterly', 'monthly')", name=op.f("ck_indicators_frequency")
        ),
        sa.CheckConstraint(
            "better IN ('higher', 'lower', 'neutral')", name=op.f("ck_indicators_better")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicators")),
        sa.UniqueConstraint("slug", name=op.f("uq_indicators_slug")),
    )
    op.create_index(op.f("ix_indicators_name"), "indicators", ["name"])
    op.create_index(op.f("ix_indicators_unit"), "indicators", ["unit"])
    op.create_index(op.f("ix_indicators_geography"), "indicators", ["geography"])

    op.create_table(
        "article_sectors",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("sector_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_sectors_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sector_id"],
            ["sectors.id"],
            name=op.f("fk_article_sectors_sector_id_sectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "sector_id", name=op.f("pk_article_sectors")),
    )
    op.create_index("ix_article_sectors_sector_id", "article_sectors", ["sector_id", "article_id"])

    op.create_table(
        "indicator_sectors",
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("sector_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_indicator_sectors_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sector_id"],
            ["sectors.id"],
            name=op.f("fk_indicator_sectors_sector_id_sectors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("indicator_id", "sector_id", name=op.f("pk_indicator_sectors")),
    )
    op.create_index(
        "ix_indicator_sectors_sector_id", "indicator_sectors", ["sector_id", "indicator_id"]
    )

    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("comparator", sa.String(length=6), nullable=True),
        sa.Column("unit", sa.String(length=40), nullable=True),
        sa.Column("value_text", sa.String(length=500), nullable=False),
        sa.Column("quote_start", sa.Integer(), nullable=False),
        sa.Column("quote_end", sa.Integer(), nullable=False),
        *timestamps(),
        sa.CheckConstraint(
            "kind IN ('actual', 'target', 'plan', 'forecast')", name=op.f("ck_observations_kind")
        ),
        sa.CheckConstraint(
            "comparator IS NULL OR comparator IN ('eq', 'approx', 'gt', 'gte', 'lt', 'lte')",
            name=op.f("ck_observations_comparator"),
        ),
        sa.CheckConstraint(
            "quote_start >= 0 AND quote_end > quote_start",
            name=op.f("ck_observations_evidence_span"),
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_observations_period_span")),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_observations_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_observations_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.UniqueConstraint(
            "indicator_id", "period", "kind", "article_id", name=op.f("uq_observations_identity")
        ),
    )
    op.create_index(
        "ix_observations_indicator_period", "observations", ["indicator_id", "period_start", "id"]
    )
    op.create_index("ix_observations_period", "observations", ["period_start", "id"])
    op.create_index("ix_observations_article_id", "observations", ["article_id"])
    op.create_index("ix_observations_kind_period", "observations", ["kind", "period_start", "id"])

    op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_version")),
    )
    op.execute("INSERT INTO data_version (id, version) VALUES (1, 0)")

    if op.get_bind().dialect.name == "sqlite":
        for table, columns in SEARCH_COLUMNS.items():
            create_fts5(table, list(columns))
    else:
        for table, columns in SEARCH_COLUMNS.items():
            document = " || ".join(
                f"setweight(to_tsvector('english'::regconfig, coalesce({column}, '')), '{weight}')"
                for column, weight in columns.items()
            )
            op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (({document}))")


def create_fts5(table: str, columns: list[str]) -> None:
    """An external-content FTS5 index of ``table``, kept in step by triggers."""
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    fts = f"{table}_fts"
    op.execute(
        f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER {fts}_update AFTER UPDATE ON {table} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts} (rowid, {names}) VALUES (new.id, {new}); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in SEARCH_COLUMNS:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{event}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
    else:
        for table in SEARCH_COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
    op.drop_table("data_version")
    op.drop_table("observations")
    op.drop_table("indicator_sectors")
    op.drop_table("article_sectors")
    op.drop_table("indicators")
    op.drop_table("sectors")
    op.drop_table("articles")
