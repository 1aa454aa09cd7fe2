"""SDKs generated from the OpenAPI document work (API.md: "so generated SDKs get clean method
names").

A Python client made by openapi-python-client lists and gets indicators against a live server,
with typed models; openapi-typescript turns the document into types without a warning.

The server runs as a real subprocess (`policyfacts serve`) on a fresh database that it migrates
and seeds itself. The database comes from conftest's `new_database`: SQLite by default,
PostgreSQL when POLICYFACTS_TEST_DATABASE_URL is set. The document and the generated code do
not depend on the backend; the rest of the suite covers the backends in depth.

The TypeScript check needs Node and npm; it installs the tools pinned in tests/sdk
(package-lock.json) with `npm ci` when tests/sdk/node_modules is missing.
"""

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from app.cli import seed_bundle
from tests.servers import serving

SDK_DIR = Path(__file__).parent / "sdk"
PACKAGE = "policyfacts_client"
READ_OPERATIONS = {
    "list_articles",
    "get_article",
    "list_sectors",
    "get_sector",
    "list_indicators",
    "get_indicator",
    "list_indicator_observations",
    "list_observations",
    "get_observation",
    "list_targets",
    "search",
}
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TOOLS = ("openapi-typescript", "typescript")  # as pinned in tests/sdk/package.json


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
        check=False,
    )


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, new_database: Callable[[], str]
) -> Iterator[str]:
    """`policyfacts serve` on a free port and a fresh database; its base URL once ready."""
    with serving(new_database(), tmp_path_factory.mktemp("server")) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def document_path(server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OpenAPI document as the live server publishes it, saved to a file."""
    response = httpx.get(f"{server}/openapi.json", timeout=10)
    assert response.status_code == 200
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_text(json.dumps(response.json(), indent=2), encoding="utf-8")
    return path


def _operation_ids(document_path: Path) -> set[str]:
    document = json.loads(document_path.read_text(encoding="utf-8"))
    return {
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    }


@pytest.fixture(scope="module")
def python_client(document_path: Path) -> Iterator[Path]:
    """The package openapi-python-client generates; the test fails on any warning it prints."""
    out = document_path.parent / "python"
    out.mkdir()
    # The default post-hooks format the code with `ruff` from PATH and warn when it is not
    # there; how the generated code is formatted is beside the point.
    config = out / "config.yaml"
    config.write_text("post_hooks: []\n", encoding="utf-8")
    result = _run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document_path),
            "--output-path",
            str(out / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        cwd=out,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output
    sys.path.insert(0, str(out))
    importlib.invalidate_caches()
    yield out / PACKAGE
    sys.path.remove(str(out))
    for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_python_client_has_a_clean_method_per_operation(
    python_client: Path, document_path: Path
) -> None:
    methods = {
        path.stem for path in (python_client / "api").glob("*/*.py") if path.stem != "__init__"
    }
    operation_ids = _operation_ids(document_path)
    assert READ_OPERATIONS.issubset(operation_ids)
    # One module per operation, named exactly by its operationId: no `..._v1_indicators_get`.
    assert methods == operation_ids
    assert all(SNAKE_CASE.match(method) for method in methods), sorted(methods)
    # Grouped by tag: `<package>.api.indicators.list_indicators`.
    assert (python_client / "api" / "indicators" / "list_indicators.py").is_file()
    assert (python_client / "api" / "observations" / "list_observations.py").is_file()


def test_python_client_lists_and_gets_indicators(python_client: Path, server: str) -> None:
    client_module = _module("client")
    models = _module("models")
    list_indicators = _module("api.indicators.list_indicators")
    get_indicator = _module("api.indicators.get_indicator")
    seed = seed_bundle()
    target = next(
        o for o in seed.observations if o.indicator == "chn-gdp-growth" and o.kind == "target"
    )

    with client_module.Client(base_url=server, raise_on_unexpected_status=True) as client:
        page = list_indicators.sync(client=client, limit=100)
        indicator = get_indicator.sync(client=client, slug="chn-gdp-growth")
        missing = get_indicator.sync(client=client, slug="no-such-indicator")

    assert isinstance(page, models.IndicatorPage)
    assert all(isinstance(item, models.Indicator) for item in page.items)
    assert {item.slug for item in page.items} == {i.slug for i in seed.indicators}
    assert page.total == len(seed.indicators)
    assert page.next_cursor is None

    assert isinstance(indicator, models.Indicator)
    assert indicator.slug == "chn-gdp-growth"
    assert indicator.frequency == models.Frequency.ANNUAL
    assert isinstance(indicator.latest, models.Latest)
    latest_target = indicator.latest.target
    assert isinstance(latest_target, models.Observation)
    assert latest_target.value == 5.0
    assert latest_target.kind == models.Kind.TARGET
    assert latest_target.period == "2024"
    assert isinstance(latest_target.evidence, models.Evidence)
    assert latest_target.evidence.quote == target.evidence.quote
    assert latest_target.created_at.tzinfo is not None  # parsed into an aware datetime

    # Errors come back typed too: a Problem, not a dict.
    assert isinstance(missing, models.Problem)
    assert missing.status == 404


def test_openapi_typescript_makes_types_without_warnings(document_path: Path) -> None:
    npm, npx = shutil.which("npm"), shutil.which("npx")
    # A missing toolchain fails: a skip would hide that this promise is unchecked.
    assert npm and npx, "Node.js and npm are needed: install them (Node 20+, npm 10+)"
    if not all((SDK_DIR / "node_modules" / tool).is_dir() for tool in TOOLS):
        installed = _run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SDK_DIR, timeout=300
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr

    out = document_path.parent / "policyfacts.ts"
    # --no-install: the version locked in tests/sdk, never one fetched on the fly. The lint
    # rules come from tests/sdk/redocly.yaml.
    result = _run(
        [
            npx,
            "--no-install",
            "openapi-typescript",
            str(document_path),
            "-o",
            str(out),
            "--redocly",
            "redocly.yaml",
        ],
        cwd=SDK_DIR,
        timeout=120,
    )
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, output
    # It prints `⚠  <problem> at <pointer>` for warnings and `✘` for errors.
    problems = [
        line
        for line in output.splitlines()
        if "⚠" in line or "✘" in line or re.search(r"warn|error", line, re.IGNORECASE)
    ]
    assert problems == [], output
    types = out.read_text(encoding="utf-8")
    assert 'get: operations["list_indicators"]' in types
    assert re.search(r"^ {8}Indicator: \{", types, re.MULTILINE)

    # The types compile (TypeScript as pinned in tests/sdk).
    compiled = _run(
        [npx, "--no-install", "tsc", "--noEmit", "--strict", "--skipLibCheck", str(out)],
        cwd=SDK_DIR,
        timeout=120,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
