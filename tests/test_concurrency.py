"""Writers that race, on a live server with two worker processes, on SQLite and on PostgreSQL:
of many PATCHes holding the same ETag exactly one wins; imports of one bundle all succeed;
imports and deletes of the same rows each get their answer, never a 500 or a 503."""

import functools
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.auth import create_key
from app.routers import imports
from app.writes import ATTEMPTS
from bench.data import bundle_parts
from tests.servers import run, serving

WRITERS = 16
IMPORTERS = 10
DELETERS = 4
ROUNDS = 6
INDICATORS = 4
OBSERVATIONS = 40
SECTORS = 400


def test_one_etag_one_winner(new_database: Callable[[], str], tmp_path: Path) -> None:
    url = new_database()
    assert run(url, "seed", cwd=tmp_path).returncode == 0
    created = run(url, "keys", "create", "racer", cwd=tmp_path)
    key = created.stdout.strip().splitlines()[-1]
    with serving(url, tmp_path, workers=2) as base:
        target = f"{base}/v1/indicators/chn-gdp-growth"
        etag = httpx.get(target).headers["etag"]
        start = threading.Barrier(WRITERS)
        statuses: list[int] = []

        def write(n: int) -> None:
            with httpx.Client(timeout=60) as client:
                start.wait()
                response = client.patch(
                    target,
                    json={"name": f"GDP growth, edit {n}"},
                    headers={"Authorization": f"Bearer {key}", "If-Match": etag},
                )
                statuses.append(response.status_code)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert Counter(statuses) == {200: 1, 412: WRITERS - 1}
        final = httpx.get(target)
        assert final.json()["name"].startswith("GDP growth, edit ")
        assert final.headers["etag"] != etag


def test_racing_creates_of_one_slug_give_one_201(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    assert run(url, "migrate", cwd=tmp_path).returncode == 0
    key = run(url, "keys", "create", "racer", cwd=tmp_path).stdout.strip().splitlines()[-1]
    with serving(url, tmp_path, workers=2) as base:
        start = threading.Barrier(WRITERS)
        statuses: list[int] = []
        unexpected: list[str] = []

        def create() -> None:
            with httpx.Client(timeout=60) as client:
                start.wait()
                response = client.post(
                    f"{base}/v1/sectors",
                    json={"slug": "steel", "name": "Steel"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                statuses.append(response.status_code)
                if response.status_code not in (201, 409):
                    unexpected.append(response.text)

        threads = [threading.Thread(target=create) for _ in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert Counter(statuses) == {201: 1, 409: WRITERS - 1}, unexpected


def small_bundle(value_shift: float = 0.0) -> dict[str, Any]:
    """Sectors, articles and indicators of their own, and observations quoting them; with
    ``value_shift`` each observation's value differs (its evidence stays the same)."""
    head, rows = bundle_parts(INDICATORS, OBSERVATIONS)
    observations = [{**row, "value": row["value"] + value_shift} for row in rows]
    return {**head, "observations": observations}


def bundle_ids(base: str) -> list[int]:
    """The ids of the observations of ``small_bundle`` (the server seeds others)."""
    page = httpx.get(f"{base}/v1/observations?limit=1000").json()
    return [item["id"] for item in page["items"] if item["indicator"].startswith("bench-")]


def racing(*jobs: Callable[[httpx.Client], None]) -> None:
    """Runs each job in a thread of its own, all started at once."""
    start = threading.Barrier(len(jobs))

    def run_job(job: Callable[[httpx.Client], None]) -> None:
        with httpx.Client(timeout=120) as client:
            start.wait()
            job(client)

    threads = [threading.Thread(target=run_job, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a request hung"


def test_parallel_imports_of_one_new_bundle_all_succeed(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    """Loading the same bundle again changes nothing, however the loads overlap: the first
    to commit creates everything, the others find it there."""
    url = new_database()
    assert run(url, "migrate", cwd=tmp_path).returncode == 0
    key = run(url, "keys", "create", "racer", cwd=tmp_path).stdout.strip().splitlines()[-1]
    bundle = small_bundle()
    answers: list[httpx.Response] = []
    with serving(url, tmp_path, workers=2) as base:

        def load(client: httpx.Client) -> None:
            answers.append(
                client.post(
                    f"{base}/v1/imports", json=bundle, headers={"Authorization": f"Bearer {key}"}
                )
            )

        before = httpx.get(f"{base}/v1/observations?limit=1").json()["total"]  # the seed's
        racing(*[load] * IMPORTERS)
        total = httpx.get(f"{base}/v1/observations?limit=1").json()["total"]

    assert Counter(a.status_code for a in answers) == {200: IMPORTERS}, [a.text for a in answers]
    created = [a.json()["observations"]["created"] for a in answers]
    assert sorted(created) == [0] * (IMPORTERS - 1) + [OBSERVATIONS]
    assert total == before + OBSERVATIONS


def test_imports_racing_deletes_of_their_rows_all_succeed(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    """An import that updates observations while they are deleted one by one: each import
    is 200 (it recreates what was deleted before it), each delete 204, never a 500."""
    url = new_database()
    assert run(url, "migrate", cwd=tmp_path).returncode == 0
    key = run(url, "keys", "create", "racer", cwd=tmp_path).stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    statuses: dict[str, list[int]] = {"import": [], "delete": []}
    unexpected: list[str] = []
    with serving(url, tmp_path, workers=2) as base:
        assert (
            httpx.post(f"{base}/v1/imports", json=small_bundle(), headers=auth).status_code == 200
        )
        ids = bundle_ids(base)

        def load(client: httpx.Client) -> None:
            for n in range(1, ROUNDS + 1):
                response = client.post(
                    f"{base}/v1/imports", json=small_bundle(n / 100), headers=auth
                )
                statuses["import"].append(response.status_code)
                if response.status_code != 200:
                    unexpected.append(response.text)

        def delete(client: httpx.Client, share: list[int]) -> None:
            for observation_id in share:
                response = client.delete(f"{base}/v1/observations/{observation_id}", headers=auth)
                statuses["delete"].append(response.status_code)
                if response.status_code != 204:
                    unexpected.append(response.text)

        deleters = [functools.partial(delete, share=ids[d::DELETERS]) for d in range(DELETERS)]
        racing(*[load] * IMPORTERS, *deleters)
        final = bundle_ids(base)

    assert Counter(statuses["import"]) == {200: IMPORTERS * ROUNDS}, unexpected
    assert Counter(statuses["delete"]) == {204: len(ids)}, unexpected
    assert len(ids) == OBSERVATIONS
    assert not set(final) & set(ids), "every original row is gone"


def test_imports_in_opposite_orders_both_succeed(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    """Two imports of the same new sectors, listed in opposite orders, meet in the middle
    and deadlock on PostgreSQL: the loser runs again and finds the winner's rows."""
    url = new_database()
    assert run(url, "migrate", cwd=tmp_path).returncode == 0
    key = run(url, "keys", "create", "racer", cwd=tmp_path).stdout.strip().splitlines()[-1]
    answers: list[httpx.Response] = []
    with serving(url, tmp_path, workers=2) as base:
        for round_ in range(ROUNDS):
            sectors = [
                {"slug": f"opposite-{round_}-{n}", "name": f"Sector {n}"} for n in range(SECTORS)
            ]

            def load(client: httpx.Client, items: list[dict[str, Any]]) -> None:
                answers.append(
                    client.post(
                        f"{base}/v1/imports",
                        json={"sectors": items},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                )

            racing(
                functools.partial(load, items=sectors),
                functools.partial(load, items=sectors[::-1]),
            )

    assert Counter(a.status_code for a in answers) == {200: 2 * ROUNDS}, [
        a.text for a in answers if a.status_code != 200
    ]
    created = sum(a.json()["sectors"]["created"] for a in answers)
    assert created == SECTORS * ROUNDS


def test_patches_racing_deletes_never_fail(new_database: Callable[[], str], tmp_path: Path) -> None:
    """PATCHes of indicators that unlink a sector, while that sector and the indicators are
    deleted: a PATCH is 200 or, once its indicator is gone, 404; every delete is 204."""
    url = new_database()
    assert run(url, "migrate", cwd=tmp_path).returncode == 0
    key = run(url, "keys", "create", "racer", cwd=tmp_path).stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    statuses: dict[str, list[int]] = {"patch": [], "delete": []}
    with serving(url, tmp_path, workers=2) as base:
        for round_ in range(ROUNDS):
            bundle = small_bundle()
            for indicator in bundle["indicators"]:
                indicator["sectors"] = [f"bench-sector-{round_}", "bench-sector-19"]
            loaded = httpx.post(f"{base}/v1/imports", json=bundle, headers=auth)
            assert loaded.status_code == 200, loaded.text
            slugs = [indicator["slug"] for indicator in bundle["indicators"]]

            def patch(client: httpx.Client, slug: str) -> None:
                response = client.patch(
                    f"{base}/v1/indicators/{slug}",
                    json={"sectors": ["bench-sector-19"], "name": "Patched"},
                    headers={**auth, "If-Match": "*"},
                )
                statuses["patch"].append(response.status_code)

            def delete(client: httpx.Client, path: str) -> None:
                response = client.delete(f"{base}{path}", headers=auth)
                statuses["delete"].append(response.status_code)

            racing(
                *[functools.partial(patch, slug=slug) for slug in slugs],
                functools.partial(delete, path=f"/v1/sectors/bench-sector-{round_}"),
                *[
                    functools.partial(delete, path=f"/v1/indicators/{slug}?cascade=true")
                    for slug in slugs[::2]
                ],
            )

    patches = Counter(statuses["patch"])
    assert set(patches) <= {200, 404}, patches
    assert patches.total() == INDICATORS * ROUNDS
    assert Counter(statuses["delete"]) == {204: (1 + len(slugs[::2])) * ROUNDS}


def deadlock() -> Exception:
    return OperationalError("INSERT ...", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


def row_deleted_meanwhile() -> Exception:
    return StaleDataError("UPDATE statement on table 'observations' expected to update 1 row")


def database_down() -> Exception:
    return OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


@pytest.mark.parametrize(
    ("error", "status", "attempts"),
    [(deadlock, 409, ATTEMPTS), (row_deleted_meanwhile, 409, ATTEMPTS), (database_down, 503, 1)],
)
def test_a_race_lost_on_every_attempt_is_a_409(
    client: TestClient,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    error: Callable[[], Exception],
    status: int,
    attempts: int,
) -> None:
    """A write that loses a race runs again, and only when it keeps losing is the client
    told to try again: a 409, not a 503 saying the database is down (which it is not), nor
    a 500. A database that is really down is still a 503, at once."""
    key = create_key(session, name="racer")
    session.flush()
    runs: list[int] = []

    def losing(*_: Any) -> None:
        runs.append(1)
        raise error()

    monkeypatch.setattr(imports, "load_bundle", losing)
    response = client.post(
        "/v1/imports",
        json={"sectors": [{"slug": "steel", "name": "Steel"}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert len(runs) == attempts
