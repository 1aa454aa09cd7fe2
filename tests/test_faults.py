"""When the database is down: fast 503 problems, /readyz says so, and recovery on its own."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.auth import create_key, revoke_key
from app.cli import load, seed_bundle
from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.migrate import upgrade
from bench.data import write_bundle
from tests.conftest import POSTGRES_URL
from tests.servers import COMMAND, run, serving

STEEL = {"slug": "steel", "name": "Steel"}
DEAD = "postgresql+psycopg://postgres@127.0.0.1:9/policyfacts"  # nothing listens on port 9


def test_an_unreachable_database_is_a_quick_503() -> None:
    app = create_app(Settings(database_url=DEAD))
    with TestClient(app, raise_server_exceptions=False) as client:
        for url in ("/v1/indicators", "/v1/articles/x", "/v1/search?q=gdp"):
            started = time.monotonic()
            response = client.get(url)
            assert time.monotonic() - started < 5
            assert response.status_code == 503, url
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"]
            assert "Traceback" not in response.text and "psycopg" not in response.text
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200


class Proxy:
    """A TCP relay to PostgreSQL that can be cut and restored, as if the server went away,
    or paused and resumed, as if it stopped answering: the sockets stay open and what is
    sent is accepted, but nothing reaches the other side until ``resume`` (a blackhole, as
    a hung server or a lost route looks to the client, not a reset)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.flowing = threading.Event()
        self.flowing.set()

    def pause(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.port = self.listener.getsockname()[1]
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        if self.listener is None:
            return
        # shutdown() wakes the thread blocked in accept(); close() alone would not, on Linux.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.listener = None
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass


@pytest.fixture
def proxy(database_url: str) -> Iterator[Proxy]:
    url = make_url(database_url)
    relay = Proxy((url.host or "127.0.0.1", url.port or 5432))
    relay.start()
    yield relay
    relay.resume()
    relay.stop()


@pytest.mark.skipif(POSTGRES_URL is None, reason="the database server to cut is PostgreSQL")
def test_the_service_recovers_when_the_database_comes_back(database_url: str, proxy: Proxy) -> None:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(database_url=url.render_as_string(hide_password=False))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/v1/indicators/chn-gdp-growth").status_code == 200
        proxy.stop()
        # The response cache may answer from memory for one poll interval, as it may after
        # any change; past it, it asks the database again and learns that it is gone.
        time.sleep(settings.cache_poll_seconds + 0.1)
        started = time.monotonic()
        assert client.get("/v1/indicators/chn-gdp-growth").status_code == 503
        assert client.get("/readyz").status_code == 503
        assert time.monotonic() - started < 10
        proxy.start()
        assert client.get("/readyz").status_code == 200
        assert client.get("/v1/indicators/chn-gdp-growth").status_code == 200


def ready_again(client: TestClient, seconds: float = 10) -> None:
    """Waits for /readyz to say 200 again, as a load balancer would."""
    deadline = time.monotonic() + seconds
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, f"/readyz not 200 again within {seconds} s"
        time.sleep(0.2)


def answer_within(client: TestClient, url: str, seconds: float = 3) -> httpx.Response:
    started = time.monotonic()
    response = client.get(url)
    assert time.monotonic() - started < seconds, url
    return response


@pytest.mark.skipif(POSTGRES_URL is None, reason="the database server to pause is PostgreSQL")
def test_a_database_that_stops_answering_is_a_quick_503(database_url: str, proxy: Proxy) -> None:
    """Sockets open, nothing answered: each request is answered within 3 s all the same,
    cached answers included, and the service recovers once the database answers again."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(database_url=url.render_as_string(hide_password=False))
    cached, other = "/v1/indicators/chn-gdp-growth", "/v1/indicators?limit=2"
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get(cached).status_code == 200
        assert client.get("/readyz").status_code == 200
        proxy.pause()
        try:
            # Past the poll interval the cache must learn the data version before it answers.
            time.sleep(settings.cache_poll_seconds + 0.1)
            for path in (cached, other, "/readyz", cached, other, "/readyz", cached):
                response = answer_within(client, path)
                assert response.status_code == 503, path
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["retry-after"] == "1"
            assert answer_within(client, "/healthz").status_code == 200
        finally:
            # Before the client closes: it waits for the threads blocked on the database.
            proxy.resume()
        ready_again(client)
        assert client.get(cached).status_code == 200
        assert client.get(other).status_code == 200


@pytest.mark.skipif(POSTGRES_URL is None, reason="the database server to pause is PostgreSQL")
def test_requests_just_after_the_database_goes_silent_are_quick_503s(
    database_url: str, proxy: Proxy
) -> None:
    """Within the cache's poll interval nothing has told the service yet: a read that
    reaches the database, and a write, are answered within 3 s all the same."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(database_url=url.render_as_string(hide_password=False))
    app = create_app(settings)
    with app.state.sessionmaker() as session:
        key = create_key(session, name="silent")
        session.commit()
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/v1/sectors?limit=1").status_code == 200
            proxy.pause()
            try:
                started = time.monotonic()
                read = client.get("/v1/sectors?limit=2")  # never asked: not in the cache
                write = client.post(
                    "/v1/sectors",
                    json={"slug": "steel", "name": "Steel"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert time.monotonic() - started < 6  # 3 s each at most
                for response in (read, write):
                    assert response.status_code == 503, response.text
                    assert response.headers["retry-after"] == "1"
            finally:
                proxy.resume()
            ready_again(client)
            assert client.get("/v1/sectors/steel").status_code == 404
    finally:
        with app.state.sessionmaker() as session:
            revoke_key(session, name="silent")
            session.commit()


@pytest.mark.skipif(POSTGRES_URL is None, reason="statement_timeout is PostgreSQL's")
def test_a_read_stuck_behind_a_lock_is_a_quick_503(database_url: str) -> None:
    """A migration's lock (or anything that holds one) makes reads wait: the server cuts
    them after the reads' statement timeout, so they are answered, with a 503."""
    app = create_app(Settings(database_url=database_url))
    locker = create_engine(database_url)
    with locker.connect() as connection, TestClient(app, raise_server_exceptions=False) as client:
        connection.execute(text("LOCK TABLE indicators IN ACCESS EXCLUSIVE MODE"))
        # Released after 6 s however the test goes, so that a read without a timeout is
        # answered late (and fails) instead of hanging the suite.
        release = threading.Timer(6, connection.connection.dbapi_connection.rollback)
        release.start()
        try:
            response = answer_within(client, "/v1/indicators/chn-gdp-growth")
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
        finally:
            release.cancel()
            connection.rollback()
        assert client.get("/v1/indicators/chn-gdp-growth").status_code == 200
    locker.dispose()


@pytest.mark.skipif(POSTGRES_URL is None, reason="the database server to cut is PostgreSQL")
def test_reads_and_writes_after_a_restart_while_idle_succeed(
    database_url: str, proxy: Proxy
) -> None:
    """Every pooled connection is lost while no request runs. A read's pool hands one out
    without a ping: the read finds it lost and starts over. A write's pool pings first."""
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(
        database_url=url.render_as_string(hide_password=False), response_cache=False
    )
    app = create_app(settings)
    with app.state.sessionmaker() as session:
        key = create_key(session, name="after-restart")
        session.commit()
    auth = {"Authorization": f"Bearer {key}"}
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/v1/indicators/chn-gdp-growth").status_code == 200
            assert client.get("/v1/sectors/steel").status_code == 404
            proxy.stop()
            proxy.start()
            assert client.get("/v1/indicators/chn-gdp-growth").status_code == 200
            assert client.get("/v1/indicators?limit=3").status_code == 200
            sector = {"slug": "steel", "name": "Steel"}
            assert client.post("/v1/sectors", json=sector, headers=auth).status_code == 201
            assert client.delete("/v1/sectors/steel", headers=auth).status_code == 204
    finally:
        with app.state.sessionmaker() as session:
            revoke_key(session, name="after-restart")
            session.commit()


@pytest.fixture
def sqlite_file(new_database: Callable[[], str]) -> Path:
    """A seeded SQLite database of the test's own, by its path."""
    url = new_database()
    engine = make_engine(url)
    upgrade(engine)
    load(engine, seed_bundle())
    engine.dispose()
    return Path(make_url(url).database or "")


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]


@pytest.mark.skipif(POSTGRES_URL is not None, reason="a database file is SQLite's")
def test_a_corrupt_sqlite_file_is_503_not_500(sqlite_file: Path) -> None:
    """A file that is not (or no longer) a database, as a botched restore leaves it."""
    with sqlite_file.open("r+b") as file:
        file.write(b"\xff" * 100)  # the header: no longer "SQLite format 3"
    app = create_app(Settings(database_url=f"sqlite:///{sqlite_file}"))
    with TestClient(app, raise_server_exceptions=False) as client:
        for url in ("/v1/indicators/chn-gdp-growth", "/v1/indicators", "/v1/search?q=gdp"):
            assert_unavailable(client.get(url))
        assert client.get("/readyz").status_code == 503


@pytest.mark.skipif(POSTGRES_URL is not None, reason="a database file is SQLite's")
def test_a_deleted_sqlite_file_is_503_until_it_is_back(sqlite_file: Path, tmp_path: Path) -> None:
    """Writes are not accepted into a file that is gone, no empty database takes its place,
    and the service answers again once the file is restored."""
    app = create_app(Settings(database_url=f"sqlite:///{sqlite_file}"))
    with app.state.sessionmaker() as session:
        auth = {"Authorization": f"Bearer {create_key(session, name='deleted')}"}
        session.commit()
    backup = tmp_path / "backup.db"
    shutil.copy(sqlite_file, backup)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/indicators/chn-gdp-growth").status_code == 200
        assert client.get("/readyz").status_code == 200
        sqlite_file.unlink()
        # The response cache may answer from memory for one poll interval, as it may after
        # any change; past it, it asks the database again and learns that it is gone.
        time.sleep(app.state.settings.cache_poll_seconds + 0.1)
        for _ in range(5):
            assert_unavailable(client.post("/v1/sectors", json=STEEL, headers=auth))
            assert_unavailable(client.get("/readyz"))
            assert_unavailable(client.get("/v1/indicators/chn-gdp-growth"))
            assert_unavailable(client.get("/v1/sectors?limit=5"))
        assert not sqlite_file.exists()
        shutil.copy(backup, sqlite_file)
        assert client.get("/readyz").status_code == 200
        assert client.get("/v1/indicators/chn-gdp-growth").status_code == 200
        assert client.get("/v1/sectors/steel").status_code == 404
        assert client.post("/v1/sectors", json=STEEL, headers=auth).status_code == 201


def test_a_client_that_disconnects_mid_body_changes_nothing(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    assert run(url, "seed", cwd=tmp_path).returncode == 0
    key = run(url, "keys", "create", "quitter", cwd=tmp_path).stdout.strip().splitlines()[-1]
    body = json.dumps({"sectors": [{"slug": "steel", "name": "Steel"}]}).encode()
    with serving(url, tmp_path) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head = (
                "POST /v1/imports HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {key}\r\nContent-Length: {len(body) + 100}\r\n\r\n"
            )
            sock.sendall(head.encode() + body)
        time.sleep(0.5)
        assert httpx.get(f"{base}/v1/sectors/steel").status_code == 404
        assert httpx.get(f"{base}/readyz").status_code == 200


def test_a_crash_mid_import_leaves_all_or_nothing(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    assert run(url, "seed", cwd=tmp_path).returncode == 0
    bundle = tmp_path / "big.json"
    write_bundle(bundle, indicators=50, observations=50_000)
    environment = {**os.environ, "POLICYFACTS_DATABASE_URL": url}
    process = subprocess.Popen(
        [*COMMAND, "import", "--quiet", str(bundle)],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    process.kill()  # SIGKILL: no cleanup, no rollback by the process itself
    process.wait()
    with serving(url, tmp_path) as base:
        total = httpx.get(f"{base}/v1/observations?limit=1").json()["total"]
        indicators = httpx.get(f"{base}/v1/indicators?limit=1").json()["total"]
    assert (total, indicators) in {(10, 10), (10 + 50_000, 10 + 50)}
