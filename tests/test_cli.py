"""The `policyfacts` command, run as a user runs it: in a subprocess, on a database of its own."""

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from app import auth
from app.migrate import head_revision
from tests.servers import run, serving


def test_serve_migrates_and_seeds_an_empty_database(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    with serving(new_database(), tmp_path) as base:
        assert httpx.get(f"{base}/readyz").status_code == 200
        indicators = httpx.get(f"{base}/v1/indicators", params={"limit": 100}).json()
        assert indicators["total"] == 10
        assert httpx.get(f"{base}/docs").status_code == 200


def test_serve_without_auto_migrate_leaves_the_database_alone(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    with serving(
        new_database(), tmp_path, wait_for="/healthz", POLICYFACTS_AUTO_MIGRATE="false"
    ) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert "policyfacts migrate" in ready.json()["detail"]


def test_migrate_then_seed_twice(new_database: Callable[[], str]) -> None:
    url = new_database()
    migrated = run(url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"database at revision {head_revision()}" in migrated.stdout
    first = run(url, "seed")
    assert first.returncode == 0, first.stderr
    assert "observations: 10 created" in first.stdout
    second = run(url, "seed")
    assert "observations: 0 created, 0 updated, 10 unchanged" in second.stdout


def test_migrate_seed_seeds_only_an_empty_database(new_database: Callable[[], str]) -> None:
    """What docker compose runs on every `up`: the first seeds, the next ones only migrate."""
    url = new_database()
    first = run(url, "migrate", "--seed")
    assert first.returncode == 0, first.stderr
    assert "observations: 10 created" in first.stdout
    again = run(url, "migrate", "--seed")
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout


def test_import_of_a_bad_bundle_lists_every_error_and_loads_nothing(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    assert run(url, "seed").returncode == 0
    bundle = {
        "sectors": [{"slug": "new-sector", "name": "New"}],
        "observations": [
            {
                "indicator": "no-such-indicator",
                "period": "2024",
                "kind": "actual",
                "value": 1,
                "comparator": "eq",
                "unit": "percent",
                "value_text": "1 percent",
                "evidence": {"article": "no-such-article", "quote": "x"},
            },
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    result = run(url, "import", str(path))
    assert result.returncode == 1
    assert "observations.0.indicator" in result.stderr
    assert "observations.0.evidence.article" in result.stderr
    with serving(url, tmp_path) as base:
        assert httpx.get(f"{base}/v1/sectors/new-sector").status_code == 404


def test_import_of_a_malformed_bundle_says_where(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    path = tmp_path / "malformed.json"
    path.write_text(json.dumps({"sectors": [{"slug": "Not A Slug", "name": "x", "extra": 1}]}))
    result = run(new_database(), "import", str(path))
    assert result.returncode == 1
    assert "sectors.0.slug" in result.stderr and "sectors.0.extra" in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_refuse_blank_names_and_control_characters(new_database: Callable[[], str]) -> None:
    """`keys list` shows a key per line: a name with a newline would forge a line of it."""
    url = new_database()
    assert run(url, "migrate").returncode == 0
    for name in ("curator\tcreated 2020-01-01\tactive", "two\nlines", "", "x" * 101):
        result = run(url, "keys", "create", name)
        assert result.returncode == 1, (name, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "name" in lines[0], result.stderr
        assert "pf_" not in result.stdout
    assert run(url, "keys", "list").stdout == ""
    assert run(url, "keys", "create", "curator for the 2024 review").returncode == 0


def test_a_revoked_keys_name_is_free_and_a_live_ones_is_not(
    new_database: Callable[[], str],
) -> None:
    url = new_database()
    assert run(url, "migrate").returncode == 0
    first = run(url, "keys", "create", "curator")
    assert first.returncode == 0, first.stderr
    taken = run(url, "keys", "create", "curator")
    assert taken.returncode == 1
    assert "keys revoke curator" in taken.stderr and "Traceback" not in taken.stderr
    assert run(url, "keys", "revoke", "curator").returncode == 0
    again = run(url, "keys", "create", "curator")
    assert again.returncode == 0, again.stderr
    second_key = again.stdout.strip().splitlines()[-1]
    assert second_key.startswith("pf_") and second_key != first.stdout.strip().splitlines()[-1]
    states = [line.split("\t") for line in run(url, "keys", "list").stdout.splitlines()]
    assert [(name, state.split()[0]) for name, _, state in states] == [
        ("curator", "revoked"),
        ("curator", "active"),
    ]
    # revoke names the live key; the revoked one stays as it was.
    assert run(url, "keys", "revoke", "curator").returncode == 0
    states = [line.split("\t") for line in run(url, "keys", "list").stdout.splitlines()]
    assert [state.split()[0] for _, _, state in states] == ["revoked", "revoked"]
    assert states[0][2] != states[1][2]  # revoked at two different instants
    assert run(url, "keys", "revoke", "curator").returncode == 1


@pytest.mark.parametrize(
    "name",
    [
        "carriage\rreturn",
        "bell\x07",
        "escape\x1b[31m",
        "nul\x00",
        "rtl\u202eevil",
        "   ",
        " padded ",
    ],
)
def test_a_key_is_never_made_with_an_unprintable_or_blank_name(session: Session, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        auth.create_key(session, name=name)
    assert name not in [n for n, _, _ in auth.list_keys(session)]
