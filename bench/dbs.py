"""The databases of a run, built through the import path: SQLite files in the run's directory,
or PostgreSQL databases made under POLICYFACTS_BENCH_POSTGRES_URL and dropped at the end."""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from bench.procs import ROOT, Failure, policyfacts

POSTGRES_ENV = "POLICYFACTS_BENCH_POSTGRES_URL"


class Backend:
    name = ""

    def database(self, tag: str) -> str:
        """A new, empty database for ``tag``: its URL."""
        raise NotImplementedError

    def drop_all(self) -> None:
        pass


class SQLite(Backend):
    name = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def database(self, tag: str) -> str:
        return f"sqlite:///{self.workdir / f'{tag}.db'}"


class Postgres(Backend):
    name = "postgresql"

    def __init__(self, server_url: str) -> None:
        self.server = make_url(server_url)
        self.admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        self.made: list[str] = []

    def database(self, tag: str) -> str:
        name = f"policyfacts_bench_{os.getpid()}_{tag}"
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.made.append(name)
        return self.server.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in self.made:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.made.clear()
        self.admin.dispose()


@dataclass
class Bundle:
    path: Path
    indicators: int
    observations: int
    write_seconds: float


def write_bundle(path: Path, indicators: int, observations: int) -> Bundle:
    """A synthetic bundle from bench.data, written by a process of its own."""
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.data",
            str(path),
            "--indicators",
            str(indicators),
            "--observations",
            str(observations),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise Failure(f"bench.data exited {done.returncode}:\n{done.stderr}")
    return Bundle(path, indicators, observations, time.perf_counter() - started)


@dataclass
class Import:
    what: str
    observations: int
    seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.observations / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "observations": self.observations,
            "seconds": round(self.seconds, 2),
            "observations_per_second": round(self.rate),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


@dataclass
class Databases:
    seed: str
    scale: str
    scale_import: Import
    fresh_import: Import
    build_seconds: float


def build(backend: Backend, scale: Bundle, fresh: Bundle, workdir: Path) -> Databases:
    """The seed database; the seed plus the scale bundle; the import-rate bundle alone.

    The untimed steps run side by side (each command spends seconds starting up); the two
    imports that are measured run alone, each after the kernel has written out what the steps
    before it left dirty (the million rows of the scale import are half a gigabyte).
    """
    started = time.perf_counter()
    seed, scaled, empty = (backend.database(tag) for tag in ("seed", "scale", "import"))
    steps = ((seed, ("migrate", "seed")), (scaled, ("migrate", "seed")), (empty, ("migrate",)))

    def prepare(url: str, commands: tuple[str, ...]) -> None:
        for command in commands:
            policyfacts(url, command, workdir=workdir)

    with ThreadPoolExecutor(len(steps)) as pool:
        for done in [pool.submit(prepare, url, commands) for url, commands in steps]:
            done.result()

    os.sync()
    loaded = policyfacts(scaled, "import", "--quiet", str(scale.path), workdir=workdir)
    _check_loaded(loaded.output, scale.observations)
    scale_import = Import(
        f"{scale.observations:,} observations onto the seed",
        scale.observations,
        loaded.seconds,
        loaded.peak_rss_kb / 1024,
    )
    os.sync()
    loaded = policyfacts(empty, "import", "--quiet", str(fresh.path), workdir=workdir)
    _check_loaded(loaded.output, fresh.observations)
    fresh_import = Import(
        f"{fresh.observations:,} observations into an empty database",
        fresh.observations,
        loaded.seconds,
        loaded.peak_rss_kb / 1024,
    )
    return Databases(seed, scaled, scale_import, fresh_import, time.perf_counter() - started)


def _check_loaded(output: str, observations: int) -> None:
    expected = f"observations: {observations} created"
    if expected not in output:
        raise Failure(f"the import did not report {expected!r}:\n{output}")


def last_page_key(url: str, rows: int) -> tuple[str, int]:
    """(period_start, id) of the observation ``rows`` before the last, in the default order:
    a cursor after it asks for the very last page."""
    from app.models import Observation

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(Observation.period_start, Observation.id)
                .order_by(Observation.period_start.desc(), Observation.id.desc())
                .offset(rows)
                .limit(1)
            ).one()
    finally:
        engine.dispose()
    return row.period_start.isoformat(), int(row.id)
