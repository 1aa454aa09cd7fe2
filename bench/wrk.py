"""wrk: run it, and read its report."""

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from bench.procs import Failure

THREADS = 2
CONNECTIONS = 32
INSTALL = (
    "wrk is not installed. Install it with your package manager:\n"
    "  Debian/Ubuntu: sudo apt-get install wrk\n"
    "  Fedora:        sudo dnf install wrk\n"
    "  macOS:         brew install wrk\n"
    "or build it from https://github.com/wg/wrk (make; put wrk on PATH)."
)
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass
class Run:
    requests_per_sec: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def path() -> str | None:
    return shutil.which("wrk")


def version() -> str:
    found = path()
    if found is None:
        return "missing"
    done = subprocess.run([found, "-v"], capture_output=True, text=True, check=False)
    return (
        (done.stdout or done.stderr).splitlines()[0].strip()
        if (done.stdout or done.stderr)
        else "?"
    )


def run(url: str, seconds: float) -> Run:
    """``wrk -t2 -c32 -dSECONDSs --latency URL``, read."""
    command = [
        path() or "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds:g}s",
        "--latency",
        url,
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Failure(f"{' '.join(command)}: {error}") from error
    if done.returncode != 0:
        raise Failure(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return parse(done.stdout, command=" ".join(command))


def parse(text: str, *, command: str = "wrk") -> Run:
    rate = RATE.search(text)
    total = TOTAL.search(text)
    latencies = {p: float(v) * UNITS_MS[u] for p, v, u in LATENCY.findall(text)}
    if rate is None or total is None or set(latencies) != {"50", "99"}:
        raise Failure(f"cannot read the output of {command}:\n{text}")
    non_2xx = NON_2XX.search(text)
    socket = SOCKET.search(text)
    connect, read, write, timeout = (int(n) for n in socket.groups()) if socket else (0, 0, 0, 0)
    return Run(
        requests_per_sec=float(rate.group(1)),
        p50_ms=latencies["50"],
        p99_ms=latencies["99"],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeout,
    )
