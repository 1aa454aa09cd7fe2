"""Validators and freshness: strong ETags, 304s (RFC 9110 13.1.2) and Cache-Control."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.cli import seed_bundle
from app.config import Settings
from app.importer import load_bundle
from app.schemas import Bundle

ARTICLE = "china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals"
STRONG = re.compile(r'"[\x21\x23-\x7e]+"')  # quoted, no W/ prefix

JSON_GETS = [
    "/v1/articles",
    "/v1/articles?q=technology",
    f"/v1/articles/{ARTICLE}",
    "/v1/sectors",
    "/v1/sectors/employment",
    "/v1/indicators",
    "/v1/indicators?q=growth&limit=2",
    "/v1/indicators/chn-gdp-growth",
    "/v1/indicators/chn-gdp-growth/observations",
    "/v1/observations",
    "/v1/observations?kind=target&sort=-period",
    "/v1/targets",
    "/v1/search?q=growth",
]
CSV_GETS = [
    "/v1/observations?format=csv",
    "/v1/indicators/chn-gdp-growth/observations?format=csv",
]


def every_get(client: TestClient) -> list[str]:
    first = client.get("/v1/observations?limit=1").json()["items"][0]["id"]
    return [*JSON_GETS, f"/v1/observations/{first}", *CSV_GETS]


def tags(client: TestClient, urls: list[str]) -> dict[str, str]:
    found = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)
        found[url] = response.headers["etag"]
    return found


def test_every_get_has_a_strong_etag_and_cache_control(client: TestClient) -> None:
    for url in every_get(client):
        response = client.get(url)
        assert response.status_code == 200, url
        assert STRONG.fullmatch(response.headers["etag"]), (url, response.headers["etag"])
        assert response.headers["cache-control"] == "public, max-age=60", url
        # The same representation, asked again, has the same tag.
        assert client.get(url).headers["etag"] == response.headers["etag"], url


def test_max_age_comes_from_the_setting(
    app: FastAPI, client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICYFACTS_CACHE_MAX_AGE", "5")
    app.state.settings = Settings(database_url=database_url)
    for url in ("/v1/sectors", "/v1/sectors/employment", *CSV_GETS):
        response = client.get(url)
        assert response.headers["cache-control"] == "public, max-age=5", url
        not_modified = client.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert not_modified.headers["cache-control"] == "public, max-age=5", url


def test_the_current_tag_gets_a_bodiless_304(client: TestClient) -> None:
    for url in every_get(client):
        first = client.get(url)
        again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304, url
        assert again.content == b"", url
        assert again.headers["etag"] == first.headers["etag"], url
        # A 304 carries what the 200 would have (RFC 9110 15.4.5).
        assert again.headers["cache-control"] == first.headers["cache-control"], url
        assert again.headers.get("vary") == first.headers.get("vary"), url


@pytest.mark.parametrize("url", ["/v1/sectors", "/v1/sectors/employment", CSV_GETS[0]])
def test_if_none_match_follows_rfc_9110(client: TestClient, url: str) -> None:
    current = client.get(url).headers["etag"]
    inner = current.strip('"')

    def status(*values: str) -> int:
        return client.get(url, headers=[("If-None-Match", v) for v in values]).status_code

    assert status('"0123456789abcdef"') == 200  # stale
    assert status(f'"{inner[:-1]}"') == 200  # a prefix of the tag is another tag
    assert status(inner) == 200  # not an entity-tag: unquoted
    assert status(f'"stale", {current}') == 304  # a list holding the current tag
    assert status(f'"a", "b" ,{current} , "c"') == 304
    assert status(f'"a",,  , {current}') == 304  # empty list elements are allowed
    assert status('"a", "b"') == 200
    assert status("*") == 304  # the resource exists
    assert status(f"W/{current}") == 304  # If-None-Match compares weakly
    assert status(f'W/"stale", W/{current}') == 304
    assert status('"stale"', current) == 304  # the field spread over two lines
    assert status('"stale"', '"older"') == 200


def test_a_missing_resource_is_never_304(client: TestClient) -> None:
    for url in (
        "/v1/sectors/no-such-sector",
        "/v1/observations/999999",
        "/v1/indicators/no-such-indicator/observations",
    ):
        response = client.get(url, headers={"If-None-Match": "*"})
        assert response.status_code == 404, url


def test_the_tag_is_of_the_representation(client: TestClient) -> None:
    found = tags(
        client,
        [
            "/v1/sectors?limit=1",
            "/v1/sectors?limit=2",
            "/v1/observations",
            "/v1/observations?format=csv",
        ],
    )
    assert len(set(found.values())) == len(found)
    csv = client.get("/v1/observations", headers={"Accept": "text/csv"})
    json = client.get("/v1/observations")
    assert csv.headers["etag"] != json.headers["etag"]
    # JSON and CSV at one URL: a shared cache has to key the answer on Accept.
    for response in (csv, json):
        assert "accept" in response.headers["vary"].lower()
    stale = client.get("/v1/observations", headers={"If-None-Match": csv.headers["etag"]})
    assert stale.status_code == 200 and stale.headers["content-type"] == "application/json"


def seed_item(kind: str, match: dict[str, str]) -> dict:
    for item in getattr(seed_bundle(), kind):
        dumped = item.model_dump(mode="json")
        if all(dumped.get(k) == v for k, v in match.items()):
            return dumped
    raise LookupError(match)


def assert_tags_change(client: TestClient, session: Session, urls: list[str], bundle: dict) -> None:
    before = tags(client, urls)
    result = load_bundle(session, Bundle.model_validate(bundle))
    session.flush()
    assert any(counts.updated for counts in vars(result).values()), result
    after = tags(client, urls)
    for url in urls:
        assert after[url] != before[url], f"{url} kept its tag after the data changed"
        # Never a 304 for a tag that no longer matches; the new one matches.
        old = client.get(url, headers={"If-None-Match": before[url]})
        assert old.status_code == 200 and old.content, url
        assert old.headers["etag"] == after[url]
        assert client.get(url, headers={"If-None-Match": after[url]}).status_code == 304, url


def test_tags_change_when_an_observation_changes(client: TestClient, session: Session) -> None:
    item = seed_item("observations", {"indicator": "chn-gdp-growth", "kind": "target"})
    observation = client.get("/v1/observations?indicator=chn-gdp-growth&kind=target")
    observation_id = observation.json()["items"][0]["id"]
    item["value"] = 5.5  # a correction
    item["evidence"].pop("start"), item["evidence"].pop("end")
    assert_tags_change(
        client,
        session,
        [
            "/v1/observations",
            f"/v1/observations/{observation_id}",
            "/v1/indicators/chn-gdp-growth/observations",
            "/v1/indicators/chn-gdp-growth",
            "/v1/indicators",
            "/v1/targets",
            *CSV_GETS,
        ],
        {"observations": [item]},
    )


def test_tags_change_when_names_change(client: TestClient, session: Session) -> None:
    indicator = seed_item("indicators", {"slug": "chn-gdp-growth"})
    indicator["name"] = "Gross domestic product, real growth"
    article = seed_item("articles", {"slug": ARTICLE})
    article["title"] += " (updated)"
    sector = seed_item("sectors", {"slug": "employment"})
    sector["description"] = "Jobs and unemployment."
    assert_tags_change(
        client,
        session,
        [
            "/v1/indicators",
            "/v1/indicators/chn-gdp-growth",
            "/v1/sectors",
            "/v1/sectors/employment",
            "/v1/sectors/macroeconomy",
            "/v1/articles",
            f"/v1/articles/{ARTICLE}",
            "/v1/search?q=growth",
            *CSV_GETS,
        ],
        {"indicators": [indicator], "articles": [article], "sectors": [sector]},
    )


def test_loading_nothing_new_keeps_every_tag(client: TestClient, session: Session) -> None:
    urls = every_get(client)
    before = tags(client, urls)
    load_bundle(session, seed_bundle())
    session.flush()
    assert tags(client, urls) == before


def test_head_answers_like_get_without_a_body(client: TestClient) -> None:
    for url in ("/v1/sectors", "/v1/sectors/employment", CSV_GETS[0]):
        get = client.get(url)
        head = client.head(url)
        assert head.status_code == 200, url
        assert head.content == b""
        assert head.headers["etag"] == get.headers["etag"]
        assert client.head(url, headers={"If-None-Match": get.headers["etag"]}).status_code == 304
