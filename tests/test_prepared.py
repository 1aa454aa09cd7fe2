"""Prepared statements answer exactly what SQLAlchemy's own execution answers, on the DBAPI
cursor (the fast path) and through ``execute`` (off it, or while someone listens)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, event, insert, select, text
from sqlalchemy.exc import DBAPIError

from app import fast
from app.models import Article, Observation, Sector
from app.prepared import BulkInsert, Prepared, in_ids
from app.queries import observation_select


@pytest.fixture(params=["cursor", "execute"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once on the fast path and once off it."""
    monkeypatch.setattr(fast, "_taken", request.param == "cursor")
    return str(request.param)


def test_rows_and_types_are_those_of_execute(connection: Connection, way: str) -> None:
    statement = observation_select().where(
        Observation.kind.in_(("target", "plan")),  # a literal IN list
        Article.published_at <= bindparam("before", type_=Article.published_at.type),
    )
    before = datetime(2024, 3, 5, 0, 21, tzinfo=UTC)  # the seed article's very instant
    expected = connection.execute(statement, {"before": before}).all()
    got = Prepared(statement).all(connection, before=before)
    assert expected and [tuple(row) for row in got] == [tuple(row) for row in expected]
    assert got[0]._fields == tuple(statement.selected_columns.keys())
    assert isinstance(got[0].created_at, datetime) and isinstance(got[0].value, float)


def test_a_list_of_ids_is_one_parameter(connection: Connection, way: str) -> None:
    ids = connection.scalars(select(Observation.id).order_by(Observation.id).limit(3)).all()
    by_ids = Prepared(
        select(Observation.id).where(in_ids(Observation.id)).order_by(Observation.id),
        lists=["ids"],
    )
    assert [row.id for row in by_ids.all(connection, ids=ids)] == ids
    assert [row.id for row in by_ids.all(connection, ids=ids[:1])] == ids[:1]
    assert by_ids.all(connection, ids=[]) == []


def test_a_bulk_insert_stores_what_execute_stores(connection: Connection, way: str) -> None:
    at = datetime(2024, 3, 5, 0, 21, tzinfo=UTC)
    columns = ["slug", "name", "created_at", "updated_at"]
    BulkInsert(Sector.__table__, columns).run(
        connection, [(f"bulk-{i}", f"Bulk {i}", at, at) for i in range(3)]
    )
    plain = [dict(zip(columns, (f"plain-{i}", f"Bulk {i}", at, at), strict=True)) for i in range(3)]
    connection.execute(insert(Sector), plain)

    def stored(prefix: str) -> list[tuple[Any, ...]]:
        return [
            tuple(row)
            for row in connection.execute(
                select(Sector.name, Sector.created_at, Sector.updated_at, Sector.description)
                .where(Sector.slug.like(f"{prefix}-%"))
                .order_by(Sector.slug)
            )
        ]

    assert len(stored("bulk")) == 3 and stored("bulk") == stored("plain")


def test_errors_are_sqlalchemys(connection: Connection, way: str) -> None:
    broken = Prepared(select(text("slug")).select_from(text("no_such_table")))
    with pytest.raises(DBAPIError):  # SQLAlchemy's, as the error handlers expect
        broken.all(connection)


def test_listeners_hear_it_as_they_hear_execute(
    connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tracer's listeners get the statement and an execution context, before and after: a
    connection with listeners is served by SQLAlchemy's execution, even on the fast path."""
    heard: list[tuple[str, str, bool]] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        heard.append(("before", statement, context is not None))

    def after(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        heard.append(("after", statement, context is not None))

    listeners: list[tuple[str, Any]] = [
        ("before_cursor_execute", before),
        ("after_cursor_execute", after),
    ]
    monkeypatch.setattr(fast, "_taken", True)
    for name, listener in listeners:
        event.listen(connection, name, listener)
    try:
        slugs = Prepared(select(Article.slug)).all(connection)
    finally:
        for name, listener in listeners:
            event.remove(connection, name, listener)
    assert slugs
    assert [(when, context) for when, _sql, context in heard] == [
        ("before", True),
        ("after", True),
    ]
    assert heard[0][1].startswith("SELECT articles.slug")
