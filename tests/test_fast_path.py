"""The fast path (app.fast) gives way to SQLAlchemy where anyone listens to SQLAlchemy's
statements, and to plain FastAPI and SQLAlchemy when it is turned off or the frameworks are
at versions it was not tested with."""

import logging
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from sqlalchemy import Connection, Engine

from app import fast, prepared
from app.cli import main
from app.config import Settings
from app.main import create_app
from app.routing import Dispatch
from tests.conftest import bind_to_transaction


@pytest.fixture
def spans(engine: Engine) -> Iterator[InMemorySpanExporter]:
    """OpenTelemetry's SQLAlchemy instrumentation on the test engine, its spans kept."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = SQLAlchemyInstrumentor()
    # Its declared range stops short of SQLAlchemy 2.1, which it instruments all the same.
    instrumentor.instrument(engine=engine, tracer_provider=provider, skip_dep_check=True)
    yield exporter
    instrumentor.uninstrument()


@pytest.mark.usefixtures("as_it_was")
def test_opentelemetry_traces_a_hot_read(
    database_url: str, engine: Engine, spans: InMemorySpanExporter
) -> None:
    """On the fast path too: a connection listened to is served by SQLAlchemy's execute."""
    with engine.connect() as connection, connection.begin() as transaction:
        settings = Settings(database_url=database_url, cache_poll_seconds=0, fast_path=True)
        app = create_app(settings)
        bind_to_transaction(app, connection)
        with TestClient(app, raise_server_exceptions=False) as client:
            answer = client.get("/v1/indicators/chn-gdp-growth")
        transaction.rollback()
    assert answer.status_code == 200
    assert answer.json()["slug"] == "chn-gdp-growth"
    traced = [
        span
        for span in spans.get_finished_spans()
        if "FROM indicators" in str((span.attributes or {}).get("db.statement"))
    ]
    assert traced, [span.attributes for span in spans.get_finished_spans()]
    assert all(span.status.status_code is not StatusCode.ERROR for span in traced)


@pytest.fixture
def as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's decision (app.fast) back as it was after the test."""
    monkeypatch.setattr(fast, "_taken", fast.enabled())
    monkeypatch.setattr(fast, "_warned", False)


@pytest.fixture
def cursor_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements sent straight to the DBAPI cursor."""
    runs: list[str] = []
    run = prepared.run_on_cursor

    def counting(connection: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        runs.append(sql)
        return run(connection, sql, *args, **kwargs)

    monkeypatch.setattr(prepared, "run_on_cursor", counting)
    return runs


def serve(
    database_url: str, connection: Connection, *, fast_path: bool
) -> tuple[FastAPI, TestClient]:
    app = create_app(Settings(database_url=database_url, cache_poll_seconds=0, fast_path=fast_path))
    bind_to_transaction(app, connection)
    return app, TestClient(app, raise_server_exceptions=False)


@pytest.mark.usefixtures("as_it_was")
def test_the_setting_serves_through_the_frameworks_alone(
    database_url: str, connection: Connection, cursor_runs: list[str]
) -> None:
    app, client = serve(database_url, connection, fast_path=False)
    with client:
        answer = client.get("/v1/indicators/chn-gdp-growth")
    assert answer.status_code == 200 and answer.json()["slug"] == "chn-gdp-growth"
    assert not isinstance(app.router.middleware_stack, Dispatch)
    assert cursor_runs == []

    app, client = serve(database_url, connection, fast_path=True)
    with client:
        assert client.get("/v1/indicators/chn-gdp-growth").json() == answer.json()
    assert isinstance(app.router.middleware_stack, Dispatch)
    assert cursor_runs


@pytest.mark.usefixtures("as_it_was")
def test_an_untested_release_is_served_without_the_fast_path(
    database_url: str,
    connection: Connection,
    cursor_runs: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    installed = fast.version
    monkeypatch.setattr(
        fast, "version", lambda name: "0.200.0" if name == "fastapi" else installed(name)
    )
    for _ in range(2):
        app, client = serve(database_url, connection, fast_path=True)
        with client:
            answer = client.get("/v1/indicators/chn-gdp-growth")
        assert answer.status_code == 200 and answer.json()["slug"] == "chn-gdp-growth"
        assert not isinstance(app.router.middleware_stack, Dispatch)
    assert cursor_runs == []
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "fastapi 0.200.0" in warnings[0].getMessage()


def test_the_tested_versions_are_those_pyproject_pins() -> None:
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    pinned = {
        (requirement := Requirement(line)).name.lower(): requirement.specifier
        for line in project["project"]["dependencies"]
    }
    assert {name: pinned[name] for name in fast.TESTED} == {
        name: SpecifierSet(tested) for name, tested in fast.TESTED.items()
    }
    assert fast.untested() == []  # the suite runs on what it pins


def test_postgresql_without_its_driver_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """psycopg is the postgres extra: an install without it says what to install."""
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    monkeypatch.setenv("POLICYFACTS_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1/none")
    monkeypatch.setattr(sys, "argv", ["policyfacts", "migrate"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert (
        exited.value.code
        == "policyfacts: PostgreSQL needs psycopg: pip install 'policyfacts[postgres]'"
    )
