"""Anonymous clients cannot take the service down: downloads that stall, hang up or only ask
for the headers hold no database connection, so writers and probes keep being answered; a
write's key is checked before its body is read. On a live server, on SQLite and PostgreSQL."""

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app import db
from app.auth import create_key, revoke_key
from app.config import Settings
from app.main import create_app
from bench.data import write_bundle
from tests.conftest import POSTGRES_URL
from tests.servers import run, serving

CSV = "/v1/observations?format=csv"
STALLED = 24  # more than a pool holds: 5 connections and 10 more under a burst


@pytest.fixture(scope="module")
def big_database(new_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The seed and 10,000 observations more: a CSV of some megabytes, more than the socket
    buffers between a server and a client that stops reading can hold."""
    url = new_database()
    workdir = tmp_path_factory.mktemp("big")
    assert run(url, "seed", cwd=workdir).returncode == 0
    bundle = workdir / "bundle.json"
    write_bundle(bundle, indicators=10, observations=10_000)
    imported = run(url, "import", "--quiet", str(bundle), cwd=workdir)
    assert imported.returncode == 0, imported.stderr
    return url


@pytest.fixture(scope="module")
def key(big_database: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    created = run(big_database, "keys", "create", "abuse", cwd=tmp_path_factory.mktemp("keys"))
    return created.stdout.strip().splitlines()[-1]


def raw_request(
    port: int, method: str, target: str, *, receive_buffer: int = 4096
) -> socket.socket:
    """A client that sends one request and reads nothing yet, with a small receive window."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock


@contextlib.contextmanager
def stalled_downloads(port: int) -> Iterator[None]:
    """CSV downloads as careless clients leave them: a third never read a byte, a third read
    2 kB and hang up, a third ask for the headers only and keep the connection open."""
    sockets = []
    try:
        for n in range(STALLED):
            method = "HEAD" if n % 3 == 2 else "GET"
            sock = raw_request(port, method, CSV)
            sockets.append(sock)
            if n % 3 == 1:
                sock.recv(2048)
                sock.close()
        time.sleep(1)
        yield
    finally:
        for sock in sockets:
            sock.close()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_stalled_downloads_starve_neither_writers_nor_probes(
    big_database: str, key: str, tmp_path: Path
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    with serving(big_database, tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        port = int(base.rsplit(":", 1)[1])
        with stalled_downloads(port):
            health, waited = timed(lambda: client.get("/healthz"))
            assert health.status_code == 200 and waited < 2
            sector = {"slug": "while-stalled", "name": "Written while downloads stall"}
            created, waited = timed(lambda: client.post("/v1/sectors", json=sector, headers=auth))
            assert created.status_code == 201, created.text
            assert waited < 5
            read, waited = timed(lambda: client.get("/v1/indicators/chn-gdp-growth"))
            assert read.status_code == 200 and waited < 5
            # A whole download still works beside the stalled ones.
            whole = client.get(CSV)
            assert whole.status_code == 200
            assert whole.text.count("\r\n") == 1 + 10_010
        assert client.delete("/v1/sectors/while-stalled", headers=auth).status_code == 204


@pytest.mark.skipif(POSTGRES_URL is None, reason="PostgreSQL's own view of its sessions")
def test_no_session_is_left_idle_in_a_transaction(big_database: str, tmp_path: Path) -> None:
    database = big_database.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_URL or "", isolation_level="AUTOCOMMIT")
    idle = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = :db AND state LIKE 'idle in transaction%'"
    )
    try:
        with serving(big_database, tmp_path) as base:
            port = int(base.rsplit(":", 1)[1])
            with stalled_downloads(port), admin.connect() as connection:
                assert connection.scalar(idle, {"db": database}) == 0
    finally:
        admin.dispose()


def test_a_full_pool_is_a_503_that_says_when_to_come_back(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "POOL_TIMEOUT", 0.5)
    app = create_app(Settings(database_url=database_url, db_pool_size=1))
    with app.state.sessionmaker() as session:
        key = create_key(session, name="pool-abuse")
        session.commit()
    try:
        held = []
        with contextlib.suppress(PoolTimeout):
            while True:  # every connection the writes' pool will open
                held.append(app.state.engine.connect())
        with TestClient(app, raise_server_exceptions=False) as client:
            sector = {"slug": "pool-abuse", "name": "Never written"}
            response = client.post(
                "/v1/sectors", json=sector, headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "1"
            assert client.get("/healthz").status_code == 200
        for connection in held:
            connection.close()
        with TestClient(app) as client:
            assert client.get("/v1/sectors/pool-abuse").status_code == 404
    finally:
        with app.state.sessionmaker() as session:
            revoke_key(session, name="pool-abuse")
            session.commit()
        app.state.engine.dispose()


@pytest.mark.parametrize(("trusted", "seen"), [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")])
def test_forwarded_headers_are_believed_only_from_trusted_proxies(
    database_url: str, tmp_path: Path, trusted: str, seen: str
) -> None:
    with serving(database_url, tmp_path, POLICYFACTS_TRUSTED_PROXIES=trusted) as base:
        forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        assert httpx.get(f"{base}/v1/sectors?limit=1", headers=forwarded).status_code == 200
        port = base.rsplit(":", 1)[1]
        time.sleep(0.2)
    access = [
        line
        for line in (tmp_path / f"server-{port}.log").read_text().splitlines()
        if "/v1/sectors?limit=1" in line
    ]
    assert len(access) == 1 and access[0].split()[1].startswith(seen), access


@pytest.mark.parametrize("authorization", ["", "Authorization: Bearer pf_not-a-key\r\n"])
def test_a_write_without_a_valid_key_is_refused_before_its_body_is_read(
    database_url: str, tmp_path: Path, authorization: str
) -> None:
    """A client announces 32 MB and sends 1 kB: without a valid key it is answered 401 at
    once, instead of the server waiting for, reading and parsing a body it will refuse."""
    with serving(database_url, tmp_path) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                (
                    "POST /v1/imports HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                    f"{authorization}Content-Length: {32 * 1024 * 1024}\r\n\r\n"
                ).encode()
                + b'{"sectors": ['
                + b" " * 1024
            )
            answer = sock.recv(65536).decode()
    status, _, rest = answer.partition("\r\n")
    assert status == "HTTP/1.1 401 Unauthorized", answer
    assert "www-authenticate: bearer" in rest.lower()
    assert "application/problem+json" in rest
