"""Sequential latencies: the last page against the first, the scale database against the seed."""

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from bench.dbs import last_page_key
from bench.procs import Failure, Server
from bench.report import PAGINATION_GOAL, PROBE_GOAL_MS, SCALE_GOAL

PAGE = 100
FIRST_PAGE = f"/v1/observations?limit={PAGE}"
# Filtered lists, on the seed and on the seed plus the scale bundle. chn-gdp-growth is in both.
# "gdp" finds the same indicators in both; "indicator" finds none in the seed and every one
# of the scale bundle's, so its ratio also counts ranking 1,000 matches against none. The
# seed has 5 actuals: kind=actual&limit=100 answers 5 observations there and 100 at scale,
# and limit=5 answers 5 at both, which leaves the size of the data alone to differ. The
# search box finds the same 5 results for "growth" at both sizes.
SCALE_URLS = (
    "/v1/indicators?limit=20",
    "/v1/indicators?q=gdp&limit=20",
    "/v1/indicators?q=indicator&limit=20",
    "/v1/observations?indicator=chn-gdp-growth&limit=100",
    "/v1/observations?kind=actual&limit=100",
    "/v1/observations?kind=actual&limit=5",
    "/v1/targets?limit=20",
    "/v1/search?q=growth&limit=20",
)


TIMEOUT = 120.0


@dataclass
class Median:
    ms: float | None  # None: not one answer within TIMEOUT
    samples: int


def medians(targets: dict[str, str], samples: int, budget: float) -> dict[str, Median]:
    """Median milliseconds of ``samples`` sequential GETs of each URL, taken in turn, or of as
    many as fit in ``budget`` seconds per URL (a slow URL must not hold the run for hours)."""
    times: dict[str, list[float]] = {label: [] for label in targets}
    spent = dict.fromkeys(targets, 0.0)
    timed_out: set[str] = set()
    with httpx.Client(timeout=TIMEOUT) as client:
        for round_ in range(samples + 1):  # the first: connections open, the database warm
            for label, url in targets.items():
                if label in timed_out or (times[label] and spent[label] > budget):
                    continue
                started = time.perf_counter()
                try:
                    _get(client, url)
                except httpx.TimeoutException:
                    timed_out.add(label)
                    continue
                took = time.perf_counter() - started
                spent[label] += took
                if round_:
                    times[label].append(took * 1000)
    return {
        label: Median(statistics.median(values) if values else None, len(values))
        for label, values in times.items()
    }


def prime(url: str, workers: int, requests: int = 3) -> float:
    """Seconds until every worker has answered ``url`` (as far as one can tell from outside):
    four connections per worker, each making ``requests`` requests and waiting for every
    answer. wrk would walk away from a slow answer and leave it queued in the server, where a
    herd of them (a cold worker counting a million rows once per request) would slow the runs
    that follow."""
    started = time.perf_counter()

    def one() -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            for _ in range(requests):
                _get(client, url)

    with ThreadPoolExecutor(4 * workers) as pool:
        for done in [pool.submit(one) for _ in range(4 * workers)]:
            done.result()
    return time.perf_counter() - started


def _ratio(numerator: Median, denominator: Median) -> float | None:
    if numerator.ms is None or denominator.ms is None:
        return None
    return numerator.ms / denominator.ms


def _get(client: httpx.Client, url: str) -> httpx.Response:
    response = client.get(url)
    if not 200 <= response.status_code < 300:
        raise Failure(f"GET {url}: {response.status_code}\n{response.text[:2000]}")
    return response


def last_page_cursor(database_url: str) -> str:
    """The cursor the route would issue for the page before the last, made here: the key of
    the row ``PAGE`` before the end, with the route's sort and query fingerprint."""
    from app.config import Settings
    from app.db import make_engine, make_sessionmaker
    from app.pagination import Cursors, cursor_secret, parse_sort, route_query
    from app.routers.observations import DEFAULT_SORT, SORTS

    query = route_query("list_observations", {})  # no filter
    engine = make_engine(database_url)  # the servers' key: configured, or the database's
    cursors = Cursors(
        cursor_secret(make_sessionmaker(engine), Settings(_env_file=None).cursor_secret)
    )
    engine.dispose()
    last = last_page_key(database_url, PAGE)
    return cursors.encode(sort=parse_sort(DEFAULT_SORT, SORTS), query=query, last=last)


def pagination(server: Server, database_url: str, samples: int, budget: float) -> dict[str, Any]:
    last_url = f"{FIRST_PAGE}&cursor={last_page_cursor(database_url)}"
    with httpx.Client(timeout=TIMEOUT) as client:
        page = _get(client, server.base_url + last_url).json()
    if len(page["items"]) != PAGE or page["next_cursor"] is not None:
        raise Failure(
            f"the last page has {len(page['items'])} items and next_cursor "
            f"{page['next_cursor']!r}: the cursor is not the route's"
        )
    found = medians(
        {"first": server.base_url + FIRST_PAGE, "last": server.base_url + last_url},
        samples,
        budget,
    )
    ratio = _ratio(found["last"], found["first"])
    return {
        "url": FIRST_PAGE,
        "observations": page["total"],
        "samples": min(found["first"].samples, found["last"].samples),
        "first_ms": _round(found["first"].ms),
        "last_ms": _round(found["last"].ms),
        "ratio": _round(ratio),
        "goal": PAGINATION_GOAL,
        "pass": ratio is not None and ratio <= PAGINATION_GOAL,
    }


def scale(seed: Server, scaled: Server, samples: int, budget: float) -> list[dict[str, Any]]:
    targets = {}
    for url in SCALE_URLS:
        targets[f"seed {url}"] = seed.base_url + url
        targets[f"scale {url}"] = scaled.base_url + url
    found = medians(targets, samples, budget)
    rows = []
    with httpx.Client(timeout=TIMEOUT) as client:
        totals = {name: _get(client, url).json()["total"] for name, url in targets.items()}
    for url in SCALE_URLS:
        on_seed, on_scale = found[f"seed {url}"], found[f"scale {url}"]
        ratio = _ratio(on_scale, on_seed)
        rows.append(
            {
                "url": url,
                "samples": min(on_seed.samples, on_scale.samples),
                "seed_ms": _round(on_seed.ms),
                "scale_ms": _round(on_scale.ms),
                "seed_total": totals[f"seed {url}"],
                "scale_total": totals[f"scale {url}"],
                "ratio": _round(ratio),
                "goal": SCALE_GOAL,
                "pass": ratio is not None and ratio <= SCALE_GOAL,
            }
        )
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def probes_during_counts(server: Server, seconds: float) -> dict[str, Any]:
    """/healthz, asked again and again while another client reads lists whose totals were
    never counted: each a new ``period_from``, so a count over most of the scale data. The
    probe's p99 says whether those counts hold up the rest of the worker."""
    stop = threading.Event()
    counts = 0

    def count() -> None:
        nonlocal counts
        with httpx.Client(timeout=TIMEOUT) as client:
            while not stop.is_set():
                month = f"{1950 + counts // 12 % 50}-{counts % 12 + 1:02d}"
                _get(client, f"{server.base_url}/v1/observations?limit=1&period_from={month}")
                counts += 1

    counting = threading.Thread(target=count)
    counting.start()
    times: list[float] = []
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            _get(client, server.base_url + "/healthz")
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                _get(client, server.base_url + "/healthz")
                times.append((time.perf_counter() - started) * 1000)
                time.sleep(0.005)
    finally:
        stop.set()
        counting.join()
    p99 = statistics.quantiles(times, n=100)[98] if len(times) >= 2 else None
    return {
        "url": "/healthz",
        "samples": len(times),
        "cold_counts": counts,
        "p50_ms": _round(statistics.median(times) if times else None),
        "p99_ms": _round(p99),
        "goal_ms": PROBE_GOAL_MS,
        "pass": p99 is not None and p99 < PROBE_GOAL_MS,
    }
