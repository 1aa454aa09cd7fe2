"""CPU time a request costs the app in-process, without a server or a network: the way to
compare two commits' code on a noisy machine (alternate them, take the best of each).

    python -m bench.inproc DB.sqlite     # made, migrated and seeded if missing

Run it once per checkout, e.g. `PYTHONPATH=../old python -m bench.inproc /tmp/old.db` and
the same from this checkout, alternated a few times.
"""

import asyncio
import os
import sys
import time
from typing import Any

from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.migrate import upgrade

URLS = (
    "/v1/indicators?limit=20",
    "/v1/indicators/chn-gdp-growth",
    "/v1/articles/china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals",
    "/v1/search?q=growth",
)
ROUNDS, REQUESTS = 5, 1000


async def measure(url: str) -> dict[tuple[str, str], float]:
    """Microseconds of CPU per request, best of ``ROUNDS``, cached and uncached."""
    found = {}
    for cache in (True, False):
        app = create_app(Settings(database_url=url, response_cache=cache, _env_file=None))

        async def call(target: str, app: Any = app) -> None:
            path, _, query = target.partition("?")
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": query.encode(),
                "root_path": "",
                "headers": [(b"host", b"bench")],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
            }
            statuses = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app(scope, receive, send)
            assert statuses == [200], (target, statuses)

        for target in URLS:
            for _ in range(200):
                await call(target)
            times = []
            for _ in range(ROUNDS):
                started = time.process_time()
                for _ in range(REQUESTS):
                    await call(target)
                times.append((time.process_time() - started) / REQUESTS * 1e6)
            found[("cached" if cache else "uncached", target)] = min(times)
    return found


def main() -> None:
    path = sys.argv[1]
    url = f"sqlite:///{path}"
    if not os.path.exists(path):
        from app import cli

        engine = make_engine(url)
        upgrade(engine)
        seed = getattr(cli, "seed_database", None)
        seed(engine) if seed else cli.load(engine, cli.seed_bundle())
        engine.dispose()
    for (mode, target), us in asyncio.run(measure(url)).items():
        print(f"{mode:8} {us:7.1f} us  {target}")


if __name__ == "__main__":
    main()
