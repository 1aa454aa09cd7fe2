"""The real `policyfacts serve`, in a subprocess, for tests that need a live server."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

STARTUP_SECONDS = 60
COMMAND = [sys.executable, "-c", "from app.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(
    url: str, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`policyfacts ARGS` on the database at ``url``."""
    environment = {**os.environ, "POLICYFACTS_DATABASE_URL": url, **env}
    return subprocess.run(
        [*COMMAND, *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@contextmanager
def serving(
    url: str, workdir: Path, *, workers: int = 1, wait_for: str = "/readyz", **env: str
) -> Iterator[str]:
    """`policyfacts serve` on a free port; yields its base URL once ``wait_for`` is 200.

    It runs in ``workdir``, which keeps a developer's .env out of the test.
    """
    port = free_port()
    environment = {**os.environ, "POLICYFACTS_DATABASE_URL": url, **env}
    log = workdir / f"server-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", str(port), "--workers", str(workers)],
            cwd=workdir,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base_url}{wait_for}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{wait_for} not 200 within {STARTUP_SECONDS} s:\n{log.read_text()}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
