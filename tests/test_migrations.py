"""The migrations are the only way the schema is made: they match the models and reverse cleanly."""

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from app.cli import load, seed_bundle
from app.db import make_engine
from app.migrate import current_revision, downgrade, head_revision, upgrade
from app.models import Base, Indicator, Observation
from app.search import is_search_object
from tests.conftest import POSTGRES_URL

TABLES = {
    "alembic_version",
    "articles",
    "sectors",
    "indicators",
    "observations",
    "article_sectors",
    "indicator_sectors",
    "data_version",
}


def _include(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not is_search_object(name)


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": _include, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_upgrade_downgrade_upgrade(new_database: Callable[[], str]) -> None:
    engine = make_engine(new_database())
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES

    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}

    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_stored_quotes_are_filled_in_for_existing_observations(
    new_database: Callable[[], str],
) -> None:
    """A database made before quotes were stored gets them from its article bodies."""
    engine = make_engine(new_database())
    upgrade(engine)
    load(engine, seed_bundle())
    downgrade(engine, "0003")  # as a database of the release before: offsets, no quote
    upgrade(engine)
    bundle = seed_bundle()
    expected = {(o.indicator, o.period, str(o.kind)): o.evidence.quote for o in bundle.observations}
    with engine.connect() as connection:
        rows = connection.execute(
            select(Indicator.slug, Observation.period, Observation.kind, Observation.quote).join(
                Indicator, Indicator.id == Observation.indicator_id
            )
        ).all()
        context = MigrationContext.configure(
            connection, opts={"include_object": _include, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []  # indexes and all, as made
    assert {(slug, period, kind): quote for slug, period, kind, quote in rows} == expected
    engine.dispose()


@pytest.mark.skipif(POSTGRES_URL is None, reason="SQLite's FTS5 tables have no pending list")
def test_postgresql_search_indexes_take_new_rows_at_once(database_url: str) -> None:
    """A GIN index's pending list is read in full by every search until a vacuum merges it:
    after an import of 1,000 long articles, a search read 365 pages of it (migration 0006)."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        options = dict(
            connection.execute(
                text("SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'ix_%_search'")
            ).all()
        )
    engine.dispose()
    assert options == {
        f"ix_{table}_search": ["fastupdate=off"] for table in ("articles", "sectors", "indicators")
    }
