"""Processes the benchmark runs: `policyfacts` commands, `policyfacts serve`, the ceiling."""

import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.ceiling import ENV as CEILING_ENV

ROOT = Path(__file__).resolve().parent.parent  # the checkout: bench/ is importable from here
STARTUP_SECONDS = 90
POLICYFACTS = [sys.executable, "-c", "from app.cli import main; main()"]

# Response headers uvicorn writes itself, for policyfacts and for the ceiling alike.
UVICORN_HEADERS = frozenset({b"date", b"server"})


class Failure(Exception):
    """The benchmark cannot go on: a command failed, a server did not start, wrk failed."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(**env: str) -> dict[str, str]:
    return {**os.environ, **env}


@dataclass
class Command:
    seconds: float
    peak_rss_kb: int
    output: str


def policyfacts(url: str, *args: str, workdir: Path) -> Command:
    """`policyfacts ARGS` on the database at ``url``: its wall time and its own peak RSS
    (``wait4`` reports the rusage of that one child, not the maximum over all children)."""
    log = workdir / f"policyfacts-{args[0]}-{time.monotonic_ns()}.log"
    with log.open("wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*POLICYFACTS, *args],
            cwd=workdir,
            env=environment(POLICYFACTS_DATABASE_URL=url),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if process.returncode != 0:
        raise Failure(f"`policyfacts {' '.join(args)}` exited {process.returncode}:\n{text}")
    # ru_maxrss is in kilobytes on Linux.
    return Command(seconds=seconds, peak_rss_kb=int(usage.ru_maxrss), output=text)


@dataclass
class Server:
    """A server in a subprocess (its own session, so that it and its workers stop together)."""

    name: str
    workers: int
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    ready_path: str
    worker_pids: list[int] = field(default_factory=list)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def wait_ready(self, deadline: float) -> None:
        while True:
            if self.process.poll() is not None:
                raise Failure(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_text()}"
                )
            try:
                if httpx.get(self.base_url + self.ready_path, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise Failure(f"{self.name}: {self.ready_path} not 200 in time:\n{self.log_text()}")
            time.sleep(0.1)
        # Workers that uvicorn spawns answer after the master is up: wait for all of them.
        while len(self.find_workers()) < self.workers:
            if time.monotonic() > deadline:
                raise Failure(f"{self.name}: fewer than {self.workers} workers:\n{self.log_text()}")
            time.sleep(0.1)
        self.worker_pids = self.find_workers()

    def find_workers(self) -> list[int]:
        """The processes that serve: the master itself with one worker, else the children
        uvicorn spawned (not multiprocessing's resource tracker)."""
        if self.workers == 1:
            return [self.process.pid]
        return [pid for pid in _children(self.process.pid) if b"spawn_main" in _cmdline(pid)]

    def rss_mb(self) -> list[float]:
        return [_rss_kb(pid) / 1024 for pid in self.worker_pids]

    def stop(self) -> None:
        """SIGTERM (uvicorn stops its workers and waits for them), else SIGKILL to the
        session the server leads, workers included."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_policyfacts(name: str, url: str, workdir: Path, *, workers: int, cache: bool) -> Server:
    port = free_port()
    command = [
        *POLICYFACTS,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    env = environment(
        POLICYFACTS_DATABASE_URL=url,
        POLICYFACTS_AUTO_MIGRATE="false",
        POLICYFACTS_RESPONSE_CACHE="true" if cache else "false",
    )
    return _spawn(name, command, env, workdir, port, workers, "/readyz")


def start_ceiling(
    name: str,
    responses: dict[str, tuple[int, list[tuple[bytes, bytes]], bytes]],
    workdir: Path,
    *,
    workers: int,
) -> Server:
    path = workdir / f"ceiling-{time.monotonic_ns()}.pickle"
    path.write_bytes(pickle.dumps(responses))
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.ceiling:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = environment(**{CEILING_ENV: str(path), "PYTHONPATH": pythonpath})
    return _spawn(name, command, env, workdir, port, workers, next(iter(responses)))


def _spawn(
    name: str,
    command: list[str],
    env: dict[str, str],
    workdir: Path,
    port: int,
    workers: int,
    ready_path: str,
) -> Server:
    log = workdir / f"{name.replace(' ', '-')}-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=workdir,  # keeps a developer's .env out of the benchmark
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, workers, process, f"http://127.0.0.1:{port}", log, ready_path)


def wait_all(servers: list[Server]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    for server in servers:
        server.wait_ready(deadline)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name, in parentheses, may hold spaces: ppid is the 2nd field after it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def _rss_kb(pid: int) -> int:
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def fetch(base_url: str, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers (but those uvicorn adds) and body of ``GET path``, as sent."""
    response = httpx.get(base_url + path, headers={"accept-encoding": "identity"}, timeout=120)
    headers = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in UVICORN_HEADERS]
    return response.status_code, headers, response.content


def same_answer(
    one: tuple[int, list[tuple[bytes, bytes]], bytes],
    one_url: str,
    other: tuple[int, list[tuple[bytes, bytes]], bytes],
    other_url: str,
) -> bool:
    """The same status, headers and body, but for the server's own address (in ``Link``)."""

    def local(answer: tuple[int, list[tuple[bytes, bytes]], bytes], base_url: str) -> object:
        host = base_url.removeprefix("http://").encode()
        status, headers, body = answer
        return status, [(k, v.replace(host, b"HOST")) for k, v in headers], body

    return local(one, one_url) == local(other, other_url)
