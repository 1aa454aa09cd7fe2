"""Fixtures: a database built by the migrations, the seed loaded once, and per-test rollback.

The suite runs on SQLite by default and on PostgreSQL when POLICYFACTS_TEST_DATABASE_URL is
set; on PostgreSQL it works in a database of its own, created for the run and dropped after,
never in the one the URL names.
"""

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.cli import seed_database
from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.migrate import upgrade

POSTGRES_URL = os.environ.get("POLICYFACTS_TEST_DATABASE_URL")


def pytest_report_header() -> str:
    return f"policyfacts database: {'PostgreSQL' if POSTGRES_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def new_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], str]]:
    """Makes empty databases of the backend under test; drops them at the end of the run."""
    created: list[str] = []

    def make() -> str:
        if POSTGRES_URL is None:
            path = tmp_path_factory.mktemp("db") / "policyfacts.db"
            return f"sqlite:///{path}"
        name = f"policyfacts_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if created:
        admin = create_engine(POSTGRES_URL or "", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(new_database: Callable[[], str]) -> str:
    """The shared test database: migrated and seeded once for the whole run."""
    url = new_database()
    engine = make_engine(url)
    upgrade(engine)
    seed_database(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back when the test ends."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def app(database_url: str, connection: Connection) -> FastAPI:
    """The real app, its sessions bound to the test's connection (so its writes roll back)."""
    # The response cache reads the data version on every request here, so that no answer
    # it keeps outlives a change a test makes, by HTTP or straight through a session.
    application = create_app(Settings(database_url=database_url, cache_poll_seconds=0))
    bind_to_transaction(application, connection)
    return application


def bind_to_transaction(application: FastAPI, connection: Connection) -> None:
    """The app's sessions and reads work inside the test's transaction, as savepoints."""
    application.state.engine.dispose()
    application.state.sessionmaker = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )

    @contextmanager
    def read_in_a_savepoint() -> Iterator[Connection]:
        with connection.begin_nested():
            yield connection

    application.state.read_connections = read_in_a_savepoint


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as db_session:
        yield db_session


@pytest.fixture(scope="session")
def article_text() -> str:
    """The seed article as the project ships it."""
    return (Path(__file__).parent.parent / "app" / "data" / "000_a83b8bb3d3fc7417.txt").read_text(
        encoding="utf-8"
    )


def answered_meanwhile(client: TestClient, slow: Callable[[], httpx.Response]) -> int:
    """The status of ``slow``, a request made on a thread of its own; while it is under way
    (0.3 s in), /healthz must be answered within a second: a slow request holds up no other.
    """
    statuses: list[int] = []
    running = threading.Thread(target=lambda: statuses.append(slow().status_code))
    running.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        assert time.monotonic() - started < 1
    finally:
        running.join()
    return statuses[0]
