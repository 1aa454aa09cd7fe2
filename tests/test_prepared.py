"""Prepared statements answer exactly what SQLAlchemy's own execution answers."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, bindparam, event, select, text
from sqlalchemy.exc import DBAPIError

from app.models import Article, Observation
from app.prepared import Prepared, in_ids
from app.queries import observation_select


def test_rows_and_types_are_those_of_execute(connection: Connection) -> None:
    statement = observation_select().where(
        Observation.kind.in_(("target", "plan")),  # a literal IN list
        Article.published_at <= bindparam("before", type_=Article.published_at.type),
    )
    before = datetime(2024, 3, 5, 0, 21, tzinfo=UTC)  # the seed article's very instant
    expected = connection.execute(statement, {"before": before}).all()
    got = Prepared(statement).all(connection, before=before)
    assert expected and [tuple(row) for row in got] == [tuple(row) for row in expected]
    assert isinstance(got[0].created_at, datetime) and isinstance(got[0].value, float)


def test_a_list_of_ids_is_one_parameter(connection: Connection) -> None:
    ids = connection.scalars(select(Observation.id).order_by(Observation.id).limit(3)).all()
    by_ids = Prepared(
        select(Observation.id).where(in_ids(Observation.id)).order_by(Observation.id),
        lists=["ids"],
    )
    assert [row.id for row in by_ids.all(connection, ids=ids)] == ids
    assert [row.id for row in by_ids.all(connection, ids=ids[:1])] == ids[:1]
    assert by_ids.all(connection, ids=[]) == []


def test_listeners_hear_it_and_errors_are_sqlalchemys(connection: Connection) -> None:
    heard: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        heard.append(statement)

    event.listen(connection, "before_cursor_execute", listen)
    try:
        Prepared(select(Article.slug)).all(connection)
    finally:
        event.remove(connection, "before_cursor_execute", listen)
    assert len(heard) == 1 and heard[0].startswith("SELECT articles.slug")

    broken = Prepared(select(text("slug")).select_from(text("no_such_table")))
    with pytest.raises(DBAPIError):  # SQLAlchemy's, as the error handlers expect
        broken.all(connection)
