"""Every error path answers one shape: RFC 9457 problem+json, never HTML, never a stack trace.

``type``, ``title``, ``status`` (the HTTP status) and ``detail``; and, for invalid input,
``errors``: ``[{"loc": [...], "msg": ..., "type": ...}]``. Runs on both backends.
"""

import base64
import json
import os
import socket
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session

from app.auth import create_key
from tests.servers import serving

PROBLEM = "application/problem+json"
POSTGRES = bool(os.environ.get("POLICYFACTS_TEST_DATABASE_URL"))
INDICATOR = "chn-gdp-growth"
LEAKS = (
    "Traceback",
    'File "',
    "<html",
    "<!doctype",
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "SELECT ",
    "site-packages",
)


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    for leak in LEAKS:
        assert leak.lower() not in response.text.lower(), leak
    body: dict[str, Any] = response.json()
    keys = {"type", "title", "status", "detail"}
    if status == 422:
        keys.add("errors")  # invalid input always says where
    elif status == 400 and "errors" in body:
        keys.add("errors")
    assert set(body) == keys, body
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"] == HTTPStatus(status).phrase  # RFC 9457 for about:blank
    assert isinstance(body["detail"], str) and body["detail"]
    for error in body.get("errors", []):
        assert set(error) == {"loc", "msg", "type"}, error
        assert isinstance(error["loc"], list) and error["loc"]
        assert all(isinstance(part, str | int) for part in error["loc"])
        assert isinstance(error["msg"], str) and error["msg"]
        assert isinstance(error["type"], str) and error["type"]
    if "errors" in body:
        assert body["errors"], "an empty list of errors says nothing"
    return body


# --- 404 ---------------------------------------------------------------------------------------

NOT_FOUND = [
    "/v1/articles/no-such-article",
    "/v1/sectors/no-such-sector",
    f"/v1/indicators/{INDICATOR}-x",
    "/v1/indicators/no-such-indicator/observations",
    "/v1/indicators/no-such-indicator/observations?format=csv",
    "/v1/indicators/no-such-indicator/observations?kind=actual&period_from=2024",
    "/v1/observations/999999",
    "/v1/observations/2147483647",
    "/v1/observations/2147483648",
    "/v1/observations/9223372036854775807",
    "/v1/articles/%C3%A9",
    "/v1/sectors/' OR '1'='1",
    "/v1/indicators/%E2%80%AE",
    "/v1/articles/%00",
    "/v1/sectors/a%00b",
    "/v1/indicators/%00",
    "/v1/indicators/%00/observations",
    "/v1/no-such-route",
    "/no-such-route",
    "/v1",
    f"/v1/indicators/{INDICATOR}/no-such-route",
    "/v1/observations/1/evidence",
]


@pytest.mark.parametrize("url", NOT_FOUND)
def test_not_found(client: TestClient, url: str) -> None:
    assert_problem(client.get(url), 404)


@pytest.mark.parametrize("accept", ["text/csv", "text/html", "application/xml", "*/*"])
def test_an_error_is_problem_json_whatever_the_client_accepts(
    client: TestClient, accept: str
) -> None:
    headers = {"Accept": accept}
    assert_problem(
        client.get("/v1/indicators/no-such-indicator/observations", headers=headers), 404
    )
    assert_problem(client.get("/v1/nope", headers=headers), 404)
    assert_problem(client.get("/v1/observations?limit=0", headers=headers), 422)


# --- 405 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("DELETE", "/v1/indicators"),
        ("PUT", "/v1/indicators"),
        ("POST", "/v1/search"),
        ("DELETE", "/v1/search"),
        ("PUT", f"/v1/indicators/{INDICATOR}"),
        ("POST", "/v1/targets"),
        ("DELETE", "/v1/observations"),
        ("PATCH", "/v1/sectors"),
        ("POST", "/healthz"),
    ],
)
def test_method_not_allowed_says_what_is(client: TestClient, method: str, url: str) -> None:
    response = client.request(method, url)
    assert_problem(response, 405)
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert "GET" in allowed and method not in allowed


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("PUT", "/v1/articles", "GET, HEAD, POST"),
        ("OPTIONS", "/v1/articles", "GET, HEAD, POST"),
        ("PUT", "/v1/articles/no-such-article", "GET, HEAD, PATCH, DELETE"),
        ("PUT", f"/v1/indicators/{INDICATOR}/observations", "GET, HEAD, POST"),
        ("POST", "/v1/observations/1", "GET, HEAD, PATCH, DELETE"),
        ("GET", "/v1/imports", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
    ],
)
def test_allow_names_every_method_of_the_resource(
    client: TestClient, method: str, url: str, allow: str
) -> None:
    """Starlette's 405 named only the methods of the route it tried (`Allow: GET` on
    /v1/articles, which also takes POST); schemathesis's allow_header_conformance found it."""
    response = client.request(method, url)
    assert_problem(response, 405)
    assert response.headers["allow"] == allow


# --- 422 ---------------------------------------------------------------------------------------

LONG = "x" * 2001

# (request, the loc of the error it must report)
INVALID = [
    ("/v1/indicators?limit=0", ["query", "limit"]),
    ("/v1/indicators?limit=1001", ["query", "limit"]),
    ("/v1/indicators?limit=abc", ["query", "limit"]),
    ("/v1/indicators?limit=-1", ["query", "limit"]),
    ("/v1/indicators?limit=", ["query", "limit"]),
    ("/v1/indicators?limit=1.5", ["query", "limit"]),
    ("/v1/articles?limit=0", ["query", "limit"]),
    ("/v1/sectors?limit=1001", ["query", "limit"]),
    ("/v1/observations?limit=abc", ["query", "limit"]),
    ("/v1/targets?limit=0", ["query", "limit"]),
    ("/v1/search?q=growth&limit=1001", ["query", "limit"]),
    (f"/v1/indicators/{INDICATOR}/observations?limit=0", ["query", "limit"]),
    ("/v1/indicators?sort=bogus", ["query", "sort"]),
    ("/v1/indicators?sort=--slug", ["query", "sort"]),
    ("/v1/articles?sort=-bogus", ["query", "sort"]),
    ("/v1/sectors?sort=description", ["query", "sort"]),
    ("/v1/observations?sort=value", ["query", "sort"]),
    ("/v1/targets?sort=bogus", ["query", "sort"]),
    (f"/v1/indicators/{INDICATOR}/observations?sort=bogus", ["query", "sort"]),
    ("/v1/observations?kind=bogus", ["query", "kind", 0]),
    ("/v1/observations?kind=actual&kind=bogus", ["query", "kind", 1]),
    (f"/v1/indicators/{INDICATOR}/observations?kind=Actual", ["query", "kind", 0]),
    ("/v1/observations?period=2024-13", ["query", "period"]),
    ("/v1/observations?period=2024-Q5", ["query", "period"]),
    ("/v1/observations?period=2024-00", ["query", "period"]),
    ("/v1/observations?period=24", ["query", "period"]),
    ("/v1/observations?period_from=24", ["query", "period_from"]),
    ("/v1/observations?period_to=2024-1", ["query", "period_to"]),
    (f"/v1/indicators/{INDICATOR}/observations?period_from=2024-Q0", ["query", "period_from"]),
    ("/v1/targets?period=2024-13", ["query", "period"]),
    ("/v1/articles?published_from=notadate", ["query", "published_from"]),
    ("/v1/articles?published_to=2024-02-30", ["query", "published_to"]),
    ("/v1/articles?published_from=2024-03-05T25:00:00Z", ["query", "published_from"]),
    # Numbers are not read as Unix time: 20240305 would be a day in August 1970.
    ("/v1/articles?published_from=0", ["query", "published_from"]),
    ("/v1/articles?published_to=20240305", ["query", "published_to"]),
    ("/v1/observations/abc", ["path", "id"]),
    ("/v1/observations/0", ["path", "id"]),
    ("/v1/observations/-1", ["path", "id"]),
    ("/v1/observations/1.5", ["path", "id"]),
    ("/v1/observations/99999999999999999999", ["path", "id"]),
    ("/v1/observations?format=xml", ["query", "format"]),
    (f"/v1/indicators/{INDICATOR}/observations?format=xml", ["query", "format"]),
    ("/v1/search", ["query", "q"]),
    ("/v1/search?limit=5", ["query", "q"]),
    (f"/v1/search?q={LONG}", ["query", "q"]),
    (f"/v1/indicators?q={LONG}", ["query", "q"]),
    (f"/v1/articles?q={LONG}", ["query", "q"]),
    (f"/v1/sectors?q={LONG}", ["query", "q"]),
    ("/v1/indicators?geography=ABCD", ["query", "geography"]),
    (f"/v1/articles/{'a' * 201}", ["path", "slug"]),
    (f"/v1/observations?cursor={'A' * 2001}", ["query", "cursor"]),
]


@pytest.mark.parametrize(("url", "loc"), INVALID, ids=[url[:60] for url, _ in INVALID])
def test_invalid_input_says_where(client: TestClient, url: str, loc: list[str | int]) -> None:
    body = assert_problem(client.get(url), 422)
    assert loc in [error["loc"][: len(loc)] for error in body["errors"]], body["errors"]


def test_every_invalid_parameter_is_reported_at_once(client: TestClient) -> None:
    body = assert_problem(
        client.get("/v1/observations?limit=0&kind=bogus&period=2024-13&format=xml"), 422
    )
    assert {tuple(e["loc"][:2]) for e in body["errors"]} == {
        ("query", "limit"),
        ("query", "kind"),
        ("query", "period"),
        ("query", "format"),
    }


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"slug": "caf\xe9", "name": "Caf\xe9"}', ["body", 13]),  # Latin-1, not UTF-8
        (b"[" * 100_000 + b"]" * 100_000, ["body"]),  # deeper than the parser goes
        (b'{"slug": ' * 10_000, ["body"]),
    ],
)
def test_a_body_that_is_not_json_is_422_wherever_it_fails(
    client: TestClient, session: Session, body: bytes, loc: list[str | int]
) -> None:
    """FastAPI answered these with a bare 400 that no operation documents; a body that is not
    JSON is invalid input like `{"slug": }`, which is a 422 json_invalid."""
    key = create_key(session, name="writer")
    session.flush()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for url in ("/v1/sectors", "/v1/imports"):
        problem = assert_problem(client.post(url, content=body, headers=headers), 422)
        assert problem["errors"] == [
            {"loc": loc, "msg": "JSON decode error", "type": "json_invalid"}
        ]


def test_errors_do_not_echo_what_was_sent(client: TestClient) -> None:
    secret = "s3cr3t-" + "y" * 20
    body = assert_problem(client.get(f"/v1/indicators?limit={secret}"), 422)
    assert secret not in str(body["errors"])


# --- 400: cursors the server did not issue -------------------------------------------------------


def cursor_of(client: TestClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    cursor: str | None = response.json()["next_cursor"]
    assert cursor, f"{url} has a single page"
    return cursor


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def issued(client: TestClient) -> Callable[[str], str]:
    return lambda url: cursor_of(client, url)


# (where the cursor comes from, where it is used): each a 400.
MISUSED = [
    # Another endpoint, with the same sort name and key type.
    ("/v1/sectors?limit=2", "/v1/indicators?limit=2"),
    ("/v1/indicators?limit=2", "/v1/sectors?limit=2"),
    ("/v1/targets?limit=1", "/v1/observations?limit=1"),
    ("/v1/observations?limit=1", "/v1/targets?limit=1"),
    ("/v1/observations?limit=1", f"/v1/indicators/{INDICATOR}/observations?limit=1"),
    ("/v1/search?q=technology&limit=2", "/v1/sectors?q=technology&limit=2"),
    # Other filters.
    ("/v1/indicators?limit=2", "/v1/indicators?limit=2&unit=percent"),
    ("/v1/indicators?limit=2&unit=percent", "/v1/indicators?limit=2"),
    ("/v1/observations?limit=1", "/v1/observations?limit=1&kind=actual"),
    ("/v1/observations?limit=1&period_from=2023", "/v1/observations?limit=1&period_from=2024"),
    ("/v1/sectors?limit=2&q=2024", "/v1/sectors?limit=2&q=technology"),
    ("/v1/search?q=technology&limit=2", "/v1/search?q=2024&limit=2"),
    # Another sort.
    ("/v1/indicators?limit=2", "/v1/indicators?limit=2&sort=-slug"),
    ("/v1/indicators?limit=2", "/v1/indicators?limit=2&sort=name"),
    ("/v1/observations?limit=1", "/v1/observations?limit=1&sort=id"),
    ("/v1/sectors?limit=2&q=2024", "/v1/sectors?limit=2&q=2024&sort=slug"),
    ("/v1/sectors?limit=2&q=2024&sort=slug", "/v1/sectors?limit=2&q=2024"),
]


@pytest.mark.parametrize(("source", "target"), MISUSED)
def test_a_cursor_issued_for_another_query_is_refused(
    client: TestClient, issued: Callable[[str], str], source: str, target: str
) -> None:
    cursor = issued(source)
    assert client.get(f"{source}&cursor={cursor}").status_code == 200
    assert_problem(client.get(f"{target}&cursor={cursor}"), 400)


def test_a_cursor_still_serves_with_another_limit(
    client: TestClient, issued: Callable[[str], str]
) -> None:
    cursor = issued("/v1/indicators?limit=2")
    assert client.get(f"/v1/indicators?limit=5&cursor={cursor}").status_code == 200


FORGED = [
    "abc",
    ".",
    "..",
    "e30",
    "e30.",
    "e30.AAAAAAAAAAAAAAAA",
    "%00",
    "%C3%A9",
    "%E2%80%AE" * 3,
    "' OR 1=1 --",
    _b64(os.urandom(48)),
    _b64(os.urandom(48)) + "." + _b64(os.urandom(12)),
    # Well-formed payloads of the right and the wrong shape, with no valid signature.
    _b64(b'{"s":"slug","q":"x","k":["chn-gdp-growth",1]}') + "." + _b64(bytes(12)),
    _b64(b'{"s":"slug","q":"x","k":[1]}') + "." + _b64(b"x" * 12),
    _b64(b"[]") + "." + _b64(bytes(12)),
    _b64(b"null") + "." + _b64(bytes(12)),
]


@pytest.mark.parametrize("cursor", FORGED, ids=[f"forged{i}" for i in range(len(FORGED))])
def test_a_forged_cursor_is_refused(client: TestClient, cursor: str) -> None:
    for path in ("/v1/indicators", "/v1/observations", "/v1/search?q=technology"):
        sep = "&" if "?" in path else "?"
        assert_problem(client.get(f"{path}{sep}cursor={cursor}"), 400)


@pytest.mark.parametrize(
    "source",
    [
        "/v1/indicators?limit=2",
        "/v1/observations?limit=1",
        "/v1/targets?limit=1",
        "/v1/search?q=technology&limit=2",
        "/v1/sectors?q=2024&limit=2",
    ],
)
def test_a_truncated_or_altered_cursor_is_refused(
    client: TestClient, issued: Callable[[str], str], source: str
) -> None:
    cursor = issued(source)
    tampered = {
        cursor[:-1],
        cursor[: len(cursor) // 2],
        cursor.split(".")[0],
        cursor + "A",
        cursor[1:],
        cursor.replace(".", ""),
        cursor + "." + cursor.split(".")[1],
    }
    # Each character altered in turn: its highest bit flipped, and its lowest (which, in the
    # last character of a part, may be one of the bits that base64 leaves unused).
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for at, char in enumerate(cursor):
        if char == ".":
            continue
        for flip in (32, 1):
            swapped = alphabet[alphabet.index(char) ^ flip]
            tampered.add(cursor[:at] + swapped + cursor[at + 1 :])
    tampered.discard(cursor)
    for bad in sorted(tampered):
        response = client.get(f"{source}&cursor={bad}")
        assert_problem(response, 400)


# --- a filter naming a slug that does not exist --------------------------------------------------

EMPTY = [
    "/v1/articles?sector=no-such-sector",
    "/v1/indicators?sector=no-such-sector",
    "/v1/indicators?unit=no-such-unit",
    "/v1/indicators?geography=XXX",
    "/v1/observations?indicator=no-such-indicator",
    "/v1/observations?sector=no-such-sector",
    "/v1/observations?article=no-such-article",
    "/v1/observations?indicator=no-such-indicator&kind=actual&period_from=2023",
    "/v1/targets?indicator=no-such-indicator",
    "/v1/targets?sector=no-such-sector",
    "/v1/observations?indicator=%27%20OR%20%271%27%3D%271",
    "/v1/articles?sector=%C3%A9",
    "/v1/articles?sector=%00",
    "/v1/indicators?sector=a%00",
    "/v1/observations?indicator=%00",
    "/v1/targets?sector=%00",
]


@pytest.mark.parametrize("url", EMPTY)
def test_a_filter_naming_no_such_slug_matches_nothing(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "total": 0, "next_cursor": None}


@pytest.mark.parametrize(
    "url",
    [
        "/v1/observations?indicator=no-such-indicator&format=csv",
        "/v1/observations?article=no-such-article&format=csv",
        "/v1/observations?article=%00&format=csv",
    ],
)
def test_csv_of_no_such_slug_is_only_the_header(app: FastAPI, url: str) -> None:
    # raise_server_exceptions: a stream that fails after its 200 is sent looks, to a
    # client that does not look further, like a short CSV.
    with TestClient(app) as client:
        response = client.get(url)
    assert response.status_code == 200
    assert response.text.splitlines() == [
        "id,indicator,period,kind,value,comparator,unit,value_text,article,quote,start,end"
    ]


# --- nothing a client sends is a 5xx -------------------------------------------------------------

HOSTILE = [
    "/v1/observations/2147483648",
    "/v1/observations/9223372036854775807",
    "/v1/articles/%00",
    "/v1/indicators/%00/observations?format=csv",
    "/v1/articles?sector=%00",
    "/v1/search?q=%00",
    "/v1/indicators?q=%00&sector=%00",
    "/v1/indicators?unit=%00&geography=%00",
    "/v1/articles?published_from=0001-01-01",
    "/v1/articles?published_to=9999-12-31",
    "/v1/articles?published_from=0001-01-01T00:00:00Z&published_to=9999-12-31T23:59:59Z",
    "/v1/articles?published_from=0001-01-01T00:00:00%2B14:00",
    "/v1/articles?published_to=9999-12-31T23:59:59-14:00",
    "/v1/observations?period_from=0000",
    f"/v1/indicators/{INDICATOR}/observations?period_to=0000-Q1",
    "/v1/observations?period_from=0001&period_to=9999-12",
    "/v1/observations?period=9999-Q4",
    "/v1/indicators?limit=1000&cursor=",
    "/v1/targets?period=0000",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_nothing_a_client_sends_is_a_server_error(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


# --- the handlers themselves ---------------------------------------------------------------------


@pytest.fixture
def failing(app: FastAPI) -> TestClient:
    """The app with routes that fail as the server can: a bug, a database down or refusing."""

    def bug() -> None:
        raise RuntimeError("secret internals")

    def database_down() -> None:
        raise OperationalError("SELECT secret", {}, ConnectionError("connection refused"))

    def refused_value() -> None:
        raise DataError("SELECT secret", {}, ValueError("integer out of range"))

    for path, endpoint in (("/bug", bug), ("/down", database_down), ("/refused", refused_value)):
        app.add_api_route(path, endpoint)
    return TestClient(app, raise_server_exceptions=False)


def test_a_bug_is_a_500_that_tells_nothing(failing: TestClient) -> None:
    body = assert_problem(failing.get("/bug"), 500)
    assert "secret" not in body["detail"]


def test_a_database_that_does_not_answer_is_a_503_to_retry(failing: TestClient) -> None:
    response = failing.get("/down")
    body = assert_problem(response, 503)
    assert "secret" not in body["detail"]
    assert response.headers["retry-after"] == "1"


def test_a_value_the_database_refuses_is_the_clients_400(failing: TestClient) -> None:
    body = assert_problem(failing.get("/refused"), 400)
    assert "secret" not in body["detail"] and "integer out of range" not in body["detail"]


# --- on the wire: requests uvicorn parses, and those it answers itself --------------------------


@pytest.fixture(scope="module")
def live(
    new_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """`policyfacts serve`, as deployed: the host and port to open sockets to."""
    with serving(new_database(), tmp_path_factory.mktemp("wire")) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def on_the_wire(address: tuple[str, int], request: bytes) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the answer to ``request``, bytes as sent."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


# Methods the HTTP parser knows and no route takes: they reach the app, which says what is.
@pytest.mark.parametrize("method", ["PROPFIND", "QUERY", "TRACE", "PURGE", "SEARCH", "LINK"])
def test_a_method_no_route_takes_is_a_405_problem_on_the_wire(
    live: tuple[str, int], method: str
) -> None:
    request = f"{method} /v1/indicators HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, headers, body = on_the_wire(live, request.encode())
    assert status == 405
    assert headers["content-type"] == PROBLEM
    assert headers["allow"] == "GET, HEAD, POST"
    assert json.loads(body)["status"] == 405


def test_a_method_unknown_to_http_is_a_405_problem_where_it_reaches_the_app(
    client: TestClient,
) -> None:
    """uvicorn's parser (httptools) refuses `FOO` itself (below); a server whose parser
    passes it on (h11, or a proxy in front) gets the app's answer."""
    response = client.request("FOO", "/v1/indicators")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_an_upgrade_to_websocket_is_answered_as_plain_http(live: tuple[str, int]) -> None:
    """The API has no WebSocket: uvicorn answered an Upgrade with its own empty 403, in text;
    now the request is served as the HTTP request it also is."""
    upgrade = (
        "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    status, headers, body = on_the_wire(live, f"GET /v1/nope HTTP/1.1\r\n{upgrade}".encode())
    assert (status, headers["content-type"]) == (404, PROBLEM)
    assert json.loads(body)["status"] == 404
    status, headers, body = on_the_wire(
        live, f"GET /v1/indicators?limit=1 HTTP/1.1\r\n{upgrade}".encode()
    )
    assert (status, headers["content-type"]) == (200, "application/json")
    assert len(json.loads(body)["items"]) == 1


# What uvicorn answers itself, before any app sees a request: bytes its parser refuses. The
# README says so ("Errors the server answers itself"); this keeps it true.
REFUSED_BY_THE_SERVER = {
    "unknown method": b"FOO /v1/indicators HTTP/1.1\r\nHost: x\r\n\r\n",
    "lower-case method": b"get /v1/indicators HTTP/1.1\r\nHost: x\r\n\r\n",
    "negative length": b"POST /v1/sectors HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "two lengths": b"POST /v1/sectors HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    "length and chunked": b"POST /v1/sectors HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk": b"POST /v1/sectors HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"\r\nzz\r\n",
    "space in the target": b"GET /v1/indi cators HTTP/1.1\r\nHost: x\r\n\r\n",
    "raw UTF-8 in the target": "GET /v1/indicators?q=é HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    "bad header": b"GET /v1/indicators HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
    "unknown version": b"GET /v1/indicators HTTP/1.2\r\nHost: x\r\n\r\n",
    "not HTTP": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(40),
}


@pytest.mark.parametrize(
    "request_bytes", REFUSED_BY_THE_SERVER.values(), ids=list(REFUSED_BY_THE_SERVER)
)
def test_what_the_server_refuses_itself_is_its_plain_400(
    live: tuple[str, int], request_bytes: bytes
) -> None:
    status, headers, body = on_the_wire(live, request_bytes)
    assert status == 400
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert body == b"Invalid HTTP request received."
