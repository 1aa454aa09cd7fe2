"""Writers that race: of many PATCHes holding the same ETag exactly one wins, on a live server
with two worker processes, on SQLite and on PostgreSQL."""

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.servers import run, serving

WRITERS = 16


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
