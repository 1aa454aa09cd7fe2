"""The response cache: repeated GETs skip the database, and no change outlives it."""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from app.cli import seed_bundle
from app.config import Settings
from app.importer import load_bundle
from app.main import create_app
from app.schemas import Bundle
from tests.conftest import bind_to_transaction
from tests.servers import run, serving

URL = "/v1/indicators/chn-gdp-growth"


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[str]]:
    """The SQL the app sends on the test's connection."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("SELECT"):  # not the test's savepoints around each session
            sent.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    yield sent
    event.remove(connection, "before_cursor_execute", record)


def test_a_repeated_get_reads_only_the_data_version(
    client: TestClient, statements: list[str]
) -> None:
    first = client.get(URL)
    asked = len(statements)
    second = client.get(URL)
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert len(statements) - asked == 1  # the version; nothing else
    assert "data_version" in statements[-1]
    assert client.get(URL, headers={"If-None-Match": first.headers["etag"]}).status_code == 304


def test_a_change_made_around_the_api_is_served_at_once(
    client: TestClient, session: Session
) -> None:
    before = client.get(URL)
    bundle = seed_bundle()
    bundle.indicators[1].name = "Real GDP growth"  # chn-gdp-growth is the second
    assert bundle.indicators[1].slug == "chn-gdp-growth"
    load_bundle(session, bundle)
    session.flush()
    after = client.get(URL, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["name"] == "Real GDP growth"


@pytest.fixture
def uncached(database_url: str, connection: Connection) -> Iterator[TestClient]:
    """A client of the app with its response cache turned off."""
    app = create_app(Settings(database_url=database_url, response_cache=False))
    bind_to_transaction(app, connection)
    with TestClient(app) as client:
        yield client


def test_the_cache_can_be_turned_off(uncached: TestClient, statements: list[str]) -> None:
    uncached.get(URL)
    asked = len(statements)
    uncached.get(URL)
    assert any("FROM indicators" in s for s in statements[asked:])  # read again


def test_writes_by_another_process_are_served_within_a_second(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    assert run(url, "seed", cwd=tmp_path).returncode == 0
    key = run(url, "keys", "create", "editor", cwd=tmp_path).stdout.strip().splitlines()[-1]
    with serving(url, tmp_path, workers=2) as base, httpx.Client(base_url=base) as client:
        # Warm both workers' caches (connections are spread over the workers).
        for _ in range(20):
            with httpx.Client(base_url=base) as fresh:
                old = fresh.get(URL)
        etag = old.headers["etag"]
        written = client.patch(
            URL,
            json={"name": "Real GDP growth"},
            headers={"Authorization": f"Bearer {key}", "If-Match": etag},
        )
        assert written.status_code == 200
        done = time.monotonic()
        seen: Counter[str] = Counter()
        while time.monotonic() - done < 1.5:
            with httpx.Client(base_url=base) as fresh:  # a new connection: any worker
                answer = fresh.get(URL, headers={"If-None-Match": etag})
            late = time.monotonic() - done > 1.0
            if late:
                assert answer.status_code == 200, "a stale 304 more than a second after"
                assert answer.json()["name"] == "Real GDP growth"
            seen["late" if late else "early"] += 1
        assert seen["late"] > 0


def test_a_total_is_counted_once_per_query_and_data_version(
    client: TestClient, session: Session, statements: list[str]
) -> None:
    first = client.get("/v1/sectors?limit=5").json()
    counted = sum(s.startswith("SELECT count(*)") for s in statements)
    assert counted == 1
    second = client.get(f"/v1/sectors?limit=5&cursor={first['next_cursor']}").json()
    assert second["total"] == first["total"]
    assert sum(s.startswith("SELECT count(*)") for s in statements) == counted  # no recount
    load_bundle(session, Bundle.model_validate({"sectors": [{"slug": "steel", "name": "S"}]}))
    session.flush()
    third = client.get("/v1/sectors?limit=5").json()
    assert third["total"] == first["total"] + 1


def test_an_uncached_page_reads_the_data_version_with_its_rows(
    uncached: TestClient, statements: list[str]
) -> None:
    uncached.get("/v1/sectors?limit=5")
    asked = len(statements)
    page = uncached.get("/v1/sectors?limit=5").json()
    assert len(statements) - asked == 1  # the page, with its version; the total is known
    assert len(page["items"]) == 5 and page["total"] > 5
    asked = len(statements)
    empty = uncached.get("/v1/sectors?q=zzzunmatched").json()  # no row to carry the version
    assert empty == {"items": [], "total": 0, "next_cursor": None}
    assert any(s.startswith("SELECT data_version.version") for s in statements[asked:])


def test_a_cached_answer_names_only_the_origin_it_was_made_for(
    database_url: str, connection: Connection
) -> None:
    settings = Settings(
        database_url=database_url, cache_poll_seconds=0, cors_origins=["https://a.example"]
    )
    app = create_app(settings)
    bind_to_transaction(app, connection)
    with TestClient(app) as client:
        for _ in range(2):  # made, then from the cache
            allowed = client.get(URL, headers={"Origin": "https://a.example"})
            assert allowed.headers["access-control-allow-origin"] == "https://a.example"
        other = client.get(URL, headers={"Origin": "https://b.example"})
        assert "access-control-allow-origin" not in other.headers
        none = client.get(URL)
        assert "access-control-allow-origin" not in none.headers
        revalidated = client.get(
            URL, headers={"Origin": "https://a.example", "If-None-Match": allowed.headers["etag"]}
        )
        assert revalidated.status_code == 304
        assert revalidated.headers["access-control-allow-origin"] == "https://a.example"


def test_head_is_answered_from_the_cache_without_a_body(
    client: TestClient, statements: list[str]
) -> None:
    get = client.get(URL)
    asked = len(statements)
    head = client.head(URL)
    assert len(statements) - asked == 1  # the version; nothing else
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == str(len(get.content))


def test_a_host_a_client_sends_never_reaches_another_client(client: TestClient) -> None:
    """One request naming another host must not put that host into the cached answer
    that everyone else gets: the next page's link is relative to the request."""
    url = "/v1/sectors?limit=2"
    spoofed = {"Host": "attacker.example", "X-Forwarded-Proto": "https"}
    for response in (client.get(url, headers=spoofed), client.get(url)):
        link = response.headers["link"]
        assert "attacker" not in link and "https" not in link
        assert link.startswith("</v1/sectors?limit=2&cursor=")


def test_a_refused_write_keeps_the_cache(client: TestClient, statements: list[str]) -> None:
    client.get(URL)
    for method, path in (("POST", "/v1/sectors"), ("PUT", URL), ("DELETE", URL)):
        assert client.request(method, path, json={}).status_code in (401, 405)
    asked = len(statements)
    client.get(URL)
    assert len(statements) - asked == 1  # the data version only: still answered from memory
