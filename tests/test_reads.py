"""The connection of a read, as the app makes it (``read_connections``), not the test's
savepoint: each read sees every write committed before it began, whatever the read before
it did, and reads that run at the same time each have a connection of their own."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

from app.cli import load, seed_bundle
from app.db import make_engine, read_connections
from app.migrate import upgrade
from app.queries import data_version
from app.schemas import Bundle
from tests.conftest import POSTGRES_URL, answered_meanwhile


@pytest.fixture
def engine(new_database: Callable[[], str]) -> Iterator[Engine]:
    engine = make_engine(new_database())
    upgrade(engine)
    load(engine, seed_bundle())
    yield engine
    engine.dispose()


def write(engine: Engine, slug: str) -> None:
    load(engine, Bundle.model_validate({"sectors": [{"slug": slug, "name": slug}]}))


def test_each_read_sees_the_writes_committed_before_it(engine: Engine) -> None:
    reading = read_connections(engine)
    with reading() as db:
        before = data_version(db)
    write(engine, "steel")
    with reading() as db:
        assert data_version(db) == before + 1
    with pytest.raises(ZeroDivisionError), reading() as db:  # a read that fails halfway
        data_version(db)
        _ = 1 / 0
    write(engine, "cement")
    with reading() as db:
        assert data_version(db) == before + 2


@pytest.mark.skipif(
    POSTGRES_URL is not None,
    reason="on PostgreSQL each statement of a read takes its own snapshot (READ COMMITTED)",
)
def test_a_read_on_sqlite_sees_one_snapshot(engine: Engine) -> None:
    with read_connections(engine)() as db:
        before = data_version(db)
        write(engine, "steel")
        assert data_version(db) == before


def test_reads_at_the_same_time_each_have_a_connection(engine: Engine) -> None:
    reading = read_connections(engine)
    inside = threading.Barrier(4)
    seen: list[int] = []

    def read() -> None:
        with reading() as db:
            inside.wait(timeout=10)  # all four are inside a read at once
            seen.append(id(db))
            data_version(db)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 4


def test_a_cold_count_holds_up_no_other_request(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count over many rows (a new query, or the first after a write) takes a while; on
    SQLite, where reads run on the event loop, it must not stall /healthz meanwhile."""
    scalar = Connection.scalar

    def slow_counts(self: Connection, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if "count(" in str(statement):
            time.sleep(1.5)
        return scalar(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "scalar", slow_counts)
    # Its total is counted while /healthz is asked.
    assert answered_meanwhile(client, lambda: client.get("/v1/indicators?unit=percent")) == 200
