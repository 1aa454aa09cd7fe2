"""POST /v1/imports and bundle files: all of a bundle or none of it, every error listed."""

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from app import importer
from app.auth import create_key
from app.bundle_file import load_file
from app.errors import Invalid
from app.importer import CHUNK, Loader
from bench.data import write_bundle
from tests.conftest import answered_meanwhile
from tests.test_writes import snapshot

BODY = (
    "China's economy grew 5.2 percent in 2024, official data showed. "
    "The surveyed urban unemployment rate averaged 5.1 percent over the year. "
    "Cities created 12.56 million new jobs. "
    "The treasury issued 1 trillion yuan of ultra-long special bonds."
)


def outcome(indicator: str, value: float, unit: str, text: str, quote: str) -> dict:
    return {
        "indicator": indicator,
        "period": "2024",
        "kind": "actual",
        "value": value,
        "comparator": "eq",
        "unit": unit,
        "value_text": text,
        "evidence": {"article": "china-2024-statistics", "quote": quote},
    }


BUNDLE = {
    "articles": [
        {
            "slug": "china-2024-statistics",
            "title": "China's economy grew 5.2 percent in 2024",
            "published_at": "2025-01-17T10:00:00+08:00",
            "body": BODY,
            "sectors": ["macroeconomy"],
        }
    ],
    "observations": [
        outcome(
            "chn-gdp-growth",
            5.2,
            "percent",
            "5.2 percent",
            "China's economy grew 5.2 percent in 2024, official data showed.",
        ),
        outcome(
            "chn-urban-unemployment-rate",
            5.1,
            "percent",
            "5.1 percent",
            "The surveyed urban unemployment rate averaged 5.1 percent over the year.",
        ),
        outcome(
            "chn-new-urban-jobs",
            12_560_000,
            "jobs",
            "12.56 million new jobs",
            "Cities created 12.56 million new jobs.",
        ),
        outcome(
            "chn-ultra-long-special-treasury-bonds",
            1e12,
            "CNY",
            "1 trillion yuan",
            "The treasury issued 1 trillion yuan of ultra-long special bonds.",
        ),
    ],
}


@pytest.fixture
def auth(session: Session) -> dict[str, str]:
    key = create_key(session, name="importer")
    session.flush()
    return {"Authorization": f"Bearer {key}"}


def test_a_second_article_answers_the_seed_targets(client: TestClient, auth: dict) -> None:
    response = client.post("/v1/imports", json=BUNDLE, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["articles"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert response.json()["observations"] == {"created": 4, "updated": 0, "unchanged": 0}
    targets = {
        t["target"]["indicator"]: t for t in client.get("/v1/targets?period=2024").json()["items"]
    }
    assert targets["chn-gdp-growth"]["status"] == "met"
    assert targets["chn-urban-unemployment-rate"]["status"] == "met"
    assert targets["chn-new-urban-jobs"]["status"] == "met"
    assert targets["chn-ultra-long-special-treasury-bonds"]["status"] == "met"
    assert targets["chn-artificial-intelligence-plus-initiative"]["status"] == "pending"
    assert targets["chn-gdp-growth"]["outcome"]["evidence"]["article"] == "china-2024-statistics"


def test_the_same_bundle_twice_changes_nothing(client: TestClient, auth: dict) -> None:
    client.post("/v1/imports", json=BUNDLE, headers=auth)
    before = snapshot(client)
    again = client.post("/v1/imports", json=BUNDLE, headers=auth).json()
    assert again["observations"] == {"created": 0, "updated": 0, "unchanged": 4}
    assert again["articles"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert snapshot(client) == before


def test_an_edited_bundle_updates_in_place(client: TestClient, auth: dict) -> None:
    client.post("/v1/imports", json=BUNDLE, headers=auth)
    edited = json.loads(json.dumps(BUNDLE))
    edited["observations"][0]["value"] = 5.3
    edited["articles"][0]["title"] = "China's economy grew in 2024"
    result = client.post("/v1/imports", json=edited, headers=auth).json()
    assert result["observations"] == {"created": 0, "updated": 1, "unchanged": 3}
    assert result["articles"] == {"created": 0, "updated": 1, "unchanged": 0}
    gdp = client.get("/v1/observations?article=china-2024-statistics&indicator=chn-gdp-growth")
    assert [o["value"] for o in gdp.json()["items"]] == [5.3]


def test_a_bad_bundle_lists_every_error_and_changes_nothing(client: TestClient, auth: dict) -> None:
    before = snapshot(client)
    bad = json.loads(json.dumps(BUNDLE))
    bad["sectors"] = [{"slug": "steel", "name": "Steel"}, {"slug": "steel", "name": "Again"}]
    bad["articles"][0]["sectors"] = ["macroeconomy", "no-such-sector"]
    bad["observations"][1]["indicator"] = "no-such-indicator"
    bad["observations"][2]["evidence"]["quote"] = "A sentence the article does not have."
    bad["observations"][3]["evidence"]["article"] = "no-such-article"
    response = client.post("/v1/imports", json=bad, headers=auth)
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {
        ("body", "sectors", 1, "slug"),
        ("body", "articles", 0, "sectors", 1),
        ("body", "observations", 1, "indicator"),
        ("body", "observations", 2, "evidence", "quote"),
        ("body", "observations", 3, "evidence", "article"),
    }
    assert snapshot(client) == before


def test_invalid_items_are_all_listed(client: TestClient, auth: dict) -> None:
    bad = json.loads(json.dumps(BUNDLE))
    bad["observations"][0]["period"] = "2024-13"
    bad["observations"][2]["kind"] = "guess"
    bad["articles"][0]["colour"] = "red"
    response = client.post("/v1/imports", json=bad, headers=auth)
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert {
        ("body", "observations", 0, "period"),
        ("body", "observations", 2, "kind"),
        ("body", "articles", 0, "colour"),
    } <= locs


def test_invalid_observations_are_listed_across_chunks(client: TestClient, auth: dict) -> None:
    """A body's observations are validated a chunk at a time: errors keep their places."""
    bad = json.loads(json.dumps(BUNDLE))
    many = [dict(bad["observations"][0], period=f"{1000 + n}") for n in range(CHUNK + 500)]
    many[5]["period"] = "2024-13"
    many[CHUNK + 300]["kind"] = "guess"
    response = client.post("/v1/imports", json={**bad, "observations": many}, headers=auth)
    assert response.status_code == 422
    assert [tuple(e["loc"]) for e in response.json()["errors"]] == [
        ("body", "observations", 5, "period"),
        ("body", "observations", CHUNK + 300, "kind"),
    ]


def test_a_body_is_parsed_off_the_event_loop(
    client: TestClient, auth: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing a large bundle takes a while: meanwhile, other requests are answered."""
    loads = json.loads

    def slow_loads(text: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if len(text) > 100_000:
            time.sleep(1.5)
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", slow_loads)
    sectors = [{"slug": f"parsed-{n}", "name": f"Sector {n}"} for n in range(3000)]
    # The body is parsed while /healthz is asked.
    status = answered_meanwhile(
        client, lambda: client.post("/v1/imports", json={"sectors": sectors}, headers=auth)
    )
    assert status == 200


def test_an_error_after_the_first_chunk_undoes_the_whole_file(
    client: TestClient, session: Session, tmp_path: Path
) -> None:
    before = snapshot(client)
    path = tmp_path / "big.json"
    write_bundle(path, indicators=10, observations=CHUNK + 500)
    bundle = json.loads(path.read_text())
    bundle["observations"][-1]["evidence"]["start"] += 1  # the very last one is wrong
    path.write_text(json.dumps(bundle))
    with pytest.raises(Invalid) as error:
        load_file(Loader(session), path)
    assert [e["loc"] for e in error.value.errors or []] == [
        ["observations", CHUNK + 499, "evidence", "quote"]
    ]
    session.rollback()
    assert snapshot(client) == before


def test_a_file_streams_in_chunks_and_loads_twice_idempotently(
    client: TestClient, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "big.json"
    write_bundle(path, indicators=7, observations=2 * CHUNK + 11)
    seen: list[int] = []
    first = load_file(Loader(session), path, progress=seen.append)
    assert first.observations.created == 2 * CHUNK + 11
    assert seen[-1] == path.stat().st_size and seen == sorted(seen)
    second = load_file(Loader(session), path)
    assert second.observations.unchanged == 2 * CHUNK + 11
    assert client.get("/v1/observations?indicator=bench-indicator-3").json()["total"] > 0


def test_a_big_load_refreshes_postgresql_planner_statistics(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without statistics, PostgreSQL planned a page of targets after a big import as a walk
    over every observation; with them, SQLite planned a keyset page as a sort of every row,
    and is not asked (app.importer._refresh_statistics)."""
    monkeypatch.setattr(importer, "ANALYZE_AFTER", 100)
    sent: list[str] = []
    connection = session.connection()
    listen = lambda *args: sent.append(args[2])  # noqa: E731 (statement)
    event.listen(connection, "before_cursor_execute", listen)
    path = tmp_path / "bundle.json"
    try:
        write_bundle(path, indicators=3, observations=99)
        load_file(Loader(session), path)
        assert not any(s.startswith("ANALYZE") for s in sent)  # too few to matter
        session.rollback()
        write_bundle(path, indicators=3, observations=120)
        load_file(Loader(session), path)
    finally:
        event.remove(connection, "before_cursor_execute", listen)
    analyzed = any(s.startswith("ANALYZE") for s in sent)
    assert analyzed is (connection.dialect.name == "postgresql")


def test_a_file_whose_small_part_is_no_list_says_so(
    client: TestClient, session: Session, tmp_path: Path
) -> None:
    before = snapshot(client)
    path = tmp_path / "bundle.json"
    write_bundle(path, indicators=2, observations=3)
    bundle = json.loads(path.read_text())
    bundle["sectors"] = {"slug": "steel", "name": "Steel"}
    path.write_text(json.dumps(bundle))
    with pytest.raises(Invalid) as error:
        load_file(Loader(session), path)
    errors = [(e["loc"], e["type"]) for e in error.value.errors or []]
    assert errors[0] == (["sectors"], "list_type")
    assert ["articles", 0, "sectors", 0] in [loc for loc, _ in errors]  # now unknown
    session.rollback()
    assert snapshot(client) == before


def test_a_bundle_with_a_javascript_source_url_is_422_and_loads_nothing(
    client: TestClient, auth: dict
) -> None:
    before = snapshot(client)
    bad = json.loads(json.dumps(BUNDLE))
    bad["articles"][0]["source"] = {"name": "x", "url": "javascript:alert(1)"}
    response = client.post("/v1/imports", json=bad, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    locs = [e["loc"] for e in response.json()["errors"]]
    assert locs == [["body", "articles", 0, "source", "url"]]
    assert snapshot(client) == before
    good = json.loads(json.dumps(BUNDLE))
    good["articles"][0]["source"] = {"name": "x", "url": "https://example.com/stats"}
    assert client.post("/v1/imports", json=good, headers=auth).status_code == 200
    stored = client.get(f"/v1/articles/{good['articles'][0]['slug']}").json()["source"]
    assert stored == {"name": "x", "url": "https://example.com/stats"}
