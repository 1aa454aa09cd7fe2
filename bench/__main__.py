"""The benchmark: the real `policyfacts serve` against a raw ASGI ceiling, under wrk.

    python -m bench            # the full run: about 17 minutes on SQLite on 2 cores, and
                               # as much again on PostgreSQL (its import is slower)
    python -m bench --smoke    # under a minute: SQLite, 1 worker, 1 s loads, small data
    python -m bench --duration 4 --backend sqlite   # shorter loads, one backend

wrk is needed: `apt-get install wrk` (Debian, Ubuntu), `brew install wrk` (macOS).

For each database backend (SQLite; PostgreSQL too when POLICYFACTS_BENCH_POSTGRES_URL names a
server, where it makes its databases and drops them at the end):

1. builds the data through the import path: the seed database (`policyfacts migrate` and
   `seed`); the scale database (the seed plus a synthetic bundle of bench.data, 1,000,000
   observations over 1,000 indicators, loaded with `policyfacts import`); and, for the import
   rate, a bundle of 100,000 observations imported into an empty database;
2. starts `policyfacts serve` with 1 and 2 workers, with the response cache (cached) and
   without it (uncached), and the ceiling (bench/ceiling.py) that answers each benchmarked URL
   with the very bytes policyfacts answered it with;
3. loads each endpoint with wrk, ceiling, cached and uncached in turn, round after round;
4. times the last page against the first, and filtered lists on the scale database against
   the seed; times /healthz while lists are counted afresh on the scale database; reads the
   RSS of every worker after the load.

It prints a table per backend and writes the same figures as JSON (bench/results/latest.json,
bench/results/smoke.json for --smoke). It exits non-zero when a command or a server fails,
when wrk fails, or when any response is not 2xx; never because a goal is missed: those are
for people to read.
"""

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import latency, report, wrk
from bench.dbs import POSTGRES_ENV, Backend, Databases, Postgres, SQLite, build, write_bundle
from bench.procs import (
    Failure,
    Server,
    fetch,
    same_answer,
    start_ceiling,
    start_policyfacts,
    wait_all,
)

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    database: str  # "seed" or "scale"


ENDPOINTS = (
    Endpoint("list", "/v1/indicators?limit=20", "seed"),
    Endpoint("detail", "/v1/indicators/chn-gdp-growth", "seed"),
    Endpoint("observations", "/v1/observations?limit=100", "scale"),
    Endpoint(
        "article",
        "/v1/articles/china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals",
        "seed",
    ),
    Endpoint("search", "/v1/search?q=growth", "seed"),
)


@dataclass(frozen=True)
class Config:
    smoke: bool
    duration: float
    rounds: int
    warmup: float
    workers: tuple[int, ...]
    scale_indicators: int
    scale_observations: int
    import_observations: int
    samples: int
    budget: float  # seconds of sequential requests per URL, at most


def config(args: argparse.Namespace) -> Config:
    if args.smoke:
        defaults = Config(True, 1, 1, 0, (1,), 100, 20_000, 10_000, 5, 2)
    else:
        defaults = Config(False, 10, 2, 1, (1, 2), 1000, 1_000_000, 100_000, 50, 20)
    return Config(
        smoke=defaults.smoke,
        duration=args.duration if args.duration is not None else defaults.duration,
        rounds=args.rounds if args.rounds is not None else defaults.rounds,
        warmup=args.warmup if args.warmup is not None else defaults.warmup,
        workers=tuple(args.workers) if args.workers else defaults.workers,
        scale_indicators=defaults.scale_indicators,
        scale_observations=args.scale or defaults.scale_observations,
        import_observations=defaults.import_observations,
        samples=defaults.samples,
        budget=defaults.budget,
    )


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds, to see it works")
    parser.add_argument("--duration", type=float, help="seconds of each wrk run (full: 10)")
    parser.add_argument("--rounds", type=int, help="rounds of ceiling, cached, uncached (full: 2)")
    parser.add_argument("--warmup", type=float, help="seconds of wrk before each run (full: 1)")
    parser.add_argument(
        "--workers", type=int, nargs="+", help="worker counts to serve with (full: 1 2)"
    )
    parser.add_argument(
        "--scale", type=int, help="observations in the scale bundle (full: 1000000)"
    )
    parser.add_argument(
        "--backend",
        choices=("all", "sqlite", "postgresql"),
        default="all",
        help=f"all: SQLite, and PostgreSQL when {POSTGRES_ENV} is set (default)",
    )
    parser.add_argument("--json", type=Path, help="where to write the figures")
    args = parser.parse_args(argv)
    cfg = config(args)

    if wrk.path() is None:
        print(wrk.INSTALL, file=sys.stderr)
        return 2

    postgres_url = os.environ.get(POSTGRES_ENV)
    if postgres_url and cfg.smoke:
        progress(f"{POSTGRES_ENV} is set, but the smoke runs on SQLite only")
        postgres_url = None
        args.backend = "sqlite"
    if args.backend == "postgresql" and not postgres_url:
        parser.error(f"--backend postgresql needs {POSTGRES_ENV}")

    results: dict[str, Any] = {
        "mode": "smoke" if cfg.smoke else "full",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine(),
        "settings": {
            "threads": wrk.THREADS,
            "connections": wrk.CONNECTIONS,
            "duration": cfg.duration,
            "rounds": cfg.rounds,
            "warmup": cfg.warmup,
            "pick": "best",
            "workers": list(cfg.workers),
            "scale_observations": cfg.scale_observations,
            "scale_indicators": cfg.scale_indicators,
            "import_observations": cfg.import_observations,
            "latency_samples": cfg.samples,
            "latency_budget_seconds": cfg.budget,
        },
        "backends": [],
        "problems": [],
    }
    out = args.json or RESULTS / ("smoke.json" if cfg.smoke else "latest.json")
    print(report.header(results), flush=True)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="policyfacts-bench-"))
    finished = False
    try:
        progress(f"writing the bundles in {workdir}")
        with ThreadPoolExecutor(2) as pool:
            scale_writing = pool.submit(
                write_bundle, workdir / "scale.json", cfg.scale_indicators, cfg.scale_observations
            )
            import_writing = pool.submit(
                write_bundle, workdir / "import.json", cfg.scale_indicators, cfg.import_observations
            )
            scale_bundle, import_bundle = scale_writing.result(), import_writing.result()
        results["bundles_seconds"] = round(
            max(scale_bundle.write_seconds, import_bundle.write_seconds), 1
        )
        backends: list[Backend] = []
        if args.backend in ("all", "sqlite"):
            backends.append(SQLite(workdir))
        if postgres_url and args.backend in ("all", "postgresql"):
            backends.append(Postgres(postgres_url))
        for backend in backends:
            try:
                block = run_backend(backend, cfg, workdir, scale_bundle, import_bundle, results)
            finally:
                backend.drop_all()
            results["backends"].append(block)
            print("\n" + report.backend_section(block), flush=True)
        finished = True
    except Failure as error:
        results["problems"].append(f"failed: {error}")
        print(f"\nFAILED: {error}", file=sys.stderr)
    finally:
        if finished:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"(logs kept in {workdir})", file=sys.stderr)
    results["seconds"] = round(time.monotonic() - started, 1)

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{results['seconds']:.0f} s; figures in {out}", flush=True)
    if results["problems"]:
        print("problems:", file=sys.stderr)
        for problem in results["problems"]:
            print(f"  {problem.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


def run_backend(
    backend: Backend,
    cfg: Config,
    workdir: Path,
    scale_bundle: Any,
    import_bundle: Any,
    results: dict[str, Any],
) -> dict[str, Any]:
    progress(f"{backend.name}: building the databases through `policyfacts import`")
    dbs = build(backend, scale_bundle, import_bundle, workdir)
    progress(
        f"{backend.name}: built in {dbs.build_seconds:.0f} s "
        f"({dbs.scale_import.observations:,} imported in {dbs.scale_import.seconds:.1f} s)"
    )
    # The goal is set for the bundle of 100,000 into an empty database; the million onto
    # the seed (the scale data) is measured for people to read, with no goal.
    fresh = dbs.fresh_import.as_dict() | {
        "goal_per_second": report.IMPORT_RATE_GOAL,
        "goal_peak_rss_mb": report.IMPORT_MEMORY_GOAL_MB,
    }
    fresh["pass"] = (
        dbs.fresh_import.rate >= report.IMPORT_RATE_GOAL
        and dbs.fresh_import.peak_rss_mb < report.IMPORT_MEMORY_GOAL_MB
    )
    imports = [fresh, dbs.scale_import.as_dict()]
    block: dict[str, Any] = {
        "backend": backend.name,
        "build_seconds": round(dbs.build_seconds, 1),
        "throughput": [],
        "pagination": None,
        "scale": [],
        "probe": None,
        "import": imports,
        "memory": [],
    }
    for workers in cfg.workers:
        run_workers(backend, dbs, workers, cfg, workdir, block, results["problems"])
    return block


def run_workers(
    backend: Backend,
    dbs: Databases,
    workers: int,
    cfg: Config,
    workdir: Path,
    block: dict[str, Any],
    problems: list[str],
) -> None:
    tag = f"{backend.name}, {workers} worker(s)"
    with contextlib.ExitStack() as stack:
        servers: dict[tuple[str, bool], Server] = {}
        for database, url in (("seed", dbs.seed), ("scale", dbs.scale)):
            for cache in (True, False):
                name = f"{database} {'cached' if cache else 'uncached'}"
                server = start_policyfacts(name, url, workdir, workers=workers, cache=cache)
                stack.callback(server.stop)
                servers[(database, cache)] = server
        progress(f"{tag}: starting policyfacts serve x4 (seed, scale; cached, uncached)")
        wait_all(list(servers.values()))

        # What the ceiling will send: policyfacts' own answers, the same from both servers.
        # (A Link header names the server that sent it; the ceiling sends the cached one's.)
        responses = {}
        for endpoint in ENDPOINTS:
            cached_url = servers[(endpoint.database, True)].base_url
            uncached_url = servers[(endpoint.database, False)].base_url
            cached = fetch(cached_url, endpoint.url)
            uncached = fetch(uncached_url, endpoint.url)
            if not 200 <= cached[0] < 300:
                raise Failure(f"GET {endpoint.url}: {cached[0]}\n{cached[2][:2000]!r}")
            if not same_answer(cached, cached_url, uncached, uncached_url):
                problems.append(f"{tag}: {endpoint.url}: cached and uncached answers differ")
            responses[endpoint.url] = cached
        ceiling = start_ceiling("ceiling", responses, workdir, workers=workers)
        stack.callback(ceiling.stop)
        wait_all([ceiling])
        for endpoint in ENDPOINTS:
            if fetch(ceiling.base_url, endpoint.url) != responses[endpoint.url]:
                raise Failure(f"the ceiling does not answer {endpoint.url} as policyfacts does")

        for endpoint in ENDPOINTS:
            contenders = {
                "ceiling": ceiling,
                "cached": servers[(endpoint.database, True)],
                "uncached": servers[(endpoint.database, False)],
            }
            block["throughput"].extend(
                load(endpoint, contenders, workers, cfg, f"{tag}, {endpoint.name}", problems)
            )

        for (database, cache), server in servers.items():
            sizes = server.rss_mb()
            block["memory"].append(
                {
                    "server": f"{database} {'cached' if cache else 'uncached'}",
                    "workers": workers,
                    "worker_rss_mb": [round(mb, 1) for mb in sizes],
                    "goal_mb": report.MEMORY_GOAL_MB,
                    "pass": all(mb < report.MEMORY_GOAL_MB for mb in sizes),
                }
            )

        if workers == 1:
            progress(f"{tag}: pagination and scale (uncached, sequential)")
            block["pagination"] = latency.pagination(
                servers[("scale", False)], dbs.scale, cfg.samples, cfg.budget
            )
            block["scale"] = latency.scale(
                servers[("seed", False)], servers[("scale", False)], cfg.samples, cfg.budget
            )
            progress(f"{tag}: /healthz while totals are counted afresh")
            block["probe"] = latency.probes_during_counts(servers[("scale", False)], cfg.budget)


def load(
    endpoint: Endpoint,
    contenders: dict[str, Server],
    workers: int,
    cfg: Config,
    tag: str,
    problems: list[str],
) -> list[dict[str, Any]]:
    """wrk on ceiling, cached and uncached in turn, ``cfg.rounds`` times; the best of each."""
    progress(f"{tag}: wrk, {cfg.rounds} x {len(contenders)} x {cfg.duration:g} s")
    primed = {
        label: latency.prime(server.base_url + endpoint.url, workers)
        for label, server in contenders.items()
    }
    runs: dict[str, list[wrk.Run]] = {label: [] for label in contenders}
    for _ in range(cfg.rounds):
        for label, server in contenders.items():
            url = server.base_url + endpoint.url
            if cfg.warmup:
                wrk.run(url, cfg.warmup)
            result = wrk.run(url, cfg.duration)
            runs[label].append(result)
            if result.non_2xx:
                problems.append(f"{tag}, {label}: {result.non_2xx} non-2xx responses")
            if result.connect_errors:
                problems.append(f"{tag}, {label}: {result.connect_errors} connect errors")
            if result.requests == 0:
                problems.append(f"{tag}, {label}: no request answered")
    best = {label: max(found, key=lambda r: r.requests_per_sec) for label, found in runs.items()}
    ceiling = best["ceiling"].requests_per_sec
    rows = []
    for label, result in best.items():
        rows.append(
            {
                "endpoint": endpoint.name,
                "url": endpoint.url,
                "database": endpoint.database,
                "workers": workers,
                "server": label,
                "req_s": round(result.requests_per_sec, 1),
                "p50_ms": round(result.p50_ms, 3),
                "p99_ms": round(result.p99_ms, 3),
                "ratio": round(result.requests_per_sec / ceiling, 3) if ceiling else 0.0,
                "non_2xx": sum(r.non_2xx for r in runs[label]),
                "socket_errors": sum(r.socket_errors for r in runs[label]),
                "prime_seconds": round(primed[label], 2),
                "rounds": [r.as_dict() for r in runs[label]],
            }
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
