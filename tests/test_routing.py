"""The lean GET handler (app.routing) answers every request as FastAPI's own handler does."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, get_args
from urllib.parse import unquote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from starlette.requests import Request

from app import fast, routing
from app.config import Settings
from app.main import create_app
from app.params import IndicatorSlug
from tests.conftest import bind_to_transaction

ARTICLE = "china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals"

# Good and bad values of every kind of parameter the GETs take: scalars, repeated values,
# periods, dates, bounds, slugs and ids in the path, a dependency that answers 404 before
# the query is read, missing and empty values.
URLS = [
    "/v1/indicators",
    "/v1/indicators?limit=3&sort=-name",
    "/v1/indicators?limit=0",
    "/v1/indicators?limit=abc&sort=bogus",
    "/v1/indicators?limit=2&limit=x",
    "/v1/indicators?limit=&q=",
    "/v1/indicators?geography=CHINA&unit=" + "u" * 41,
    "/v1/indicators?cursor=garbage",
    "/v1/indicators?q=" + "w" * 2001,
    "/v1/indicators/chn-gdp-growth",
    "/v1/indicators/no-such-indicator",
    "/v1/indicators/not%20a%20slug",
    "/v1/indicators/not%20a%20slug/observations?limit=0",
    "/v1/indicators/chn-gdp-growth/observations?kind=actual&kind=target&period_from=2023",
    "/v1/indicators/chn-gdp-growth/observations?kind=actual&kind=bogus&period_to=2024-13",
    "/v1/indicators/chn-gdp-growth/observations?kind=",
    "/v1/indicators/chn-gdp-growth/observations?format=csv",
    "/v1/indicators/chn-gdp-growth/observations?format=xml",
    "/v1/observations?period=2024&limit=2",
    "/v1/observations?period=2024-Q5&limit=-1&format=csv",
    "/v1/observations/1",
    "/v1/observations/0",
    "/v1/observations/abc",
    "/v1/observations/99999999999",
    "/v1/observations/99999999999999999999",
    "/v1/articles?published_from=2024-03-05&published_to=2024-02-30",
    "/v1/articles?sector=manufacturing&sort=title",
    f"/v1/articles/{ARTICLE}",
    "/v1/sectors?q=energy",
    "/v1/sectors/manufacturing",
    "/v1/targets?period=2024",
    "/v1/targets?period=24",
    "/v1/search?q=growth&limit=2",
    "/v1/search",
    "/v1/search?q=",
    "/healthz",
]


@pytest.fixture
def app(database_url: str, connection: Connection, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The app on the fast path, whatever POLICYFACTS_FAST_PATH says: it is what these
    tests are about."""
    monkeypatch.setattr(fast, "_taken", fast.enabled())  # as it was, after the test
    settings = Settings(database_url=database_url, cache_poll_seconds=0, fast_path=True)
    application = create_app(settings)
    bind_to_transaction(application, connection)
    return application


@pytest.fixture
def fastapi_client(database_url: str, connection: Connection, app: FastAPI) -> Iterator[TestClient]:
    """The same app off the fast path: FastAPI's own router and handlers, and SQLAlchemy's
    execution of every statement (while ``plain`` is in force)."""
    settings = Settings(database_url=database_url, cache_poll_seconds=0, fast_path=False)
    application = create_app(settings)
    fast.configure(wanted=True)
    bind_to_transaction(application, connection)
    with TestClient(application, raise_server_exceptions=False) as test_client:
        yield test_client


@contextmanager
def plain() -> Iterator[None]:
    """Prepared statements and bulk inserts through SQLAlchemy's ``execute`` (app.fast)."""
    fast.configure(wanted=False)
    try:
        yield
    finally:
        fast.configure(wanted=True)


@pytest.fixture
def lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests the lean handler solved."""
    calls: list[str] = []
    solve = routing._solve

    async def counting(call: Any, request: Request) -> Any:
        if request.scope["path"] not in calls:
            calls.append(request.scope["path"])
        return await solve(call, request)

    monkeypatch.setattr(routing, "_solve", counting)
    return calls


def test_the_lean_handler_serves_the_plain_gets(client: TestClient) -> None:
    planned = []
    for route in client.app.router.routes:  # type: ignore[attr-defined]
        original = getattr(route, "original_router", None)
        for api_route in getattr(original, "routes", [route]):
            if isinstance(api_route, routing.Route) and api_route.methods == {"GET"}:
                lean = routing._plan(api_route.dependant, endpoint=True) is not None
                planned.append((api_route.path, lean))
    assert len(planned) >= 12
    assert [path for path, lean in planned if not lean] == []


@pytest.mark.parametrize("url", URLS)
def test_answers_are_fastapis(
    client: TestClient, fastapi_client: TestClient, lean_calls: list[str], url: str
) -> None:
    assert not isinstance(fastapi_client.app.router.middleware_stack, routing.Dispatch)  # type: ignore[attr-defined]
    with plain():
        theirs = fastapi_client.get(url)
    assert lean_calls == []
    ours = client.get(url)
    assert lean_calls == [unquote(url.partition("?")[0])]
    assert (ours.status_code, ours.headers.get("content-type")) == (
        theirs.status_code,
        theirs.headers.get("content-type"),
    )
    if ours.headers.get("content-type", "").startswith(("application/json", "application/problem")):
        assert ours.json() == theirs.json()
    else:
        assert ours.content == theirs.content
    assert ours.headers.get("etag") == theirs.headers.get("etag")


def test_dependency_overrides_apply_to_the_lean_routes(client: TestClient) -> None:
    assert client.get("/v1/indicators/any-slug-at-all").status_code == 404
    check = get_args(IndicatorSlug)[1].dependency
    client.app.dependency_overrides[check] = lambda: "chn-gdp-growth"  # type: ignore[attr-defined]
    try:
        answer = client.get("/v1/indicators/any-slug-at-all")
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert answer.status_code == 200
    assert answer.json()["slug"] == "chn-gdp-growth"


@pytest.fixture
def routed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests that went to FastAPI's router rather than straight to a lean route."""
    dispatch = client.app.router.middleware_stack  # type: ignore[attr-defined]
    assert isinstance(dispatch, routing.Dispatch)
    calls: list[str] = []
    fallback = dispatch.fallback

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            calls.append(f"{scope['method']} {scope['path']}")
        await fallback(scope, receive, send)

    monkeypatch.setattr(dispatch, "fallback", counting)
    return calls


def test_lean_routes_are_found_without_fastapis_router(
    client: TestClient, routed: list[str]
) -> None:
    for url in ("/v1/indicators/chn-gdp-growth", "/v1/observations?limit=1", "/healthz"):
        assert client.get(url).status_code == 200
        assert client.head(url).status_code == 200
    assert routed == []


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/openapi.json", 200),  # the app's own route
        ("GET", "/docs", 200),
        ("POST", "/healthz", 405),  # a write without a key is KeyFirst's (test_abuse)
        ("PUT", "/v1/indicators", 405),
        ("GET", "/v1/indicators/", 307),  # to /v1/indicators
        ("GET", "/v1/nothing", 404),
    ],
)
def test_everything_else_goes_to_fastapis_router(
    client: TestClient, routed: list[str], method: str, url: str, status: int
) -> None:
    assert client.request(method, url, follow_redirects=False).status_code == status
    assert routed == [f"{method} {url}"]


def test_dependency_overrides_go_to_fastapis_router(client: TestClient, routed: list[str]) -> None:
    client.app.dependency_overrides[lambda: None] = lambda: None  # type: ignore[attr-defined]
    try:
        assert client.get("/healthz").status_code == 200
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert routed == ["GET /healthz"]
