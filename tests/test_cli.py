"""The `policyfacts` command, run as a user runs it: in a subprocess, on a database of its own."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.migrate import head_revision

POLICYFACTS = str(Path(sys.executable).with_name("policyfacts"))


def run(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "POLICYFACTS_DATABASE_URL": url, **env}
    return subprocess.run(
        [POLICYFACTS, *args], env=environment, capture_output=True, text=True, timeout=120
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(url: str, **env: str) -> Iterator[str]:
    port = free_port()
    environment = {**os.environ, "POLICYFACTS_DATABASE_URL": url, **env}
    process = subprocess.Popen(
        [POLICYFACTS, "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_migrates_and_seeds_an_empty_database(new_database: Callable[[], str]) -> None:
    with serving(new_database()) as base:
        assert httpx.get(f"{base}/readyz").status_code == 200
        indicators = httpx.get(f"{base}/v1/indicators", params={"limit": 100}).json()
        assert indicators["total"] == 10
        assert httpx.get(f"{base}/docs").status_code == 200


def test_serve_without_auto_migrate_leaves_the_database_alone(
    new_database: Callable[[], str],
) -> None:
    with serving(new_database(), POLICYFACTS_AUTO_MIGRATE="false") as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert "policyfacts migrate" in ready.json()["detail"]


def test_migrate_then_seed_twice(new_database: Callable[[], str]) -> None:
    url = new_database()
    migrated = run(url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"database at revision {head_revision()}" in migrated.stdout
    first = run(url, "seed")
    assert first.returncode == 0, first.stderr
    assert "observations: 10 created" in first.stdout
    second = run(url, "seed")
    assert "observations: 0 created, 0 updated, 10 unchanged" in second.stdout


def test_import_of_a_bad_bundle_lists_every_error_and_loads_nothing(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    assert run(url, "seed").returncode == 0
    bundle = {
        "sectors": [{"slug": "new-sector", "name": "New"}],
        "observations": [
            {
                "indicator": "no-such-indicator",
                "period": "2024",
                "kind": "actual",
                "value": 1,
                "comparator": "eq",
                "unit": "percent",
                "value_text": "1 percent",
                "evidence": {"article": "no-such-article", "quote": "x"},
            },
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    result = run(url, "import", str(path))
    assert result.returncode == 1
    assert "observations.0.indicator" in result.stderr
    assert "observations.0.evidence.article" in result.stderr
    with serving(url) as base:
        assert httpx.get(f"{base}/v1/sectors/new-sector").status_code == 404


def test_import_of_a_malformed_bundle_says_where(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    path = tmp_path / "malformed.json"
    path.write_text(json.dumps({"sectors": [{"slug": "Not A Slug", "name": "x", "extra": 1}]}))
    result = run(new_database(), "import", str(path))
    assert result.returncode == 1
    assert "sectors.0.slug" in result.stderr and "sectors.0.extra" in result.stderr
    assert "Traceback" not in result.stderr
