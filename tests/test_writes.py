"""Writes with a key: POST, PATCH with If-Match, DELETE, and imports, all-or-nothing."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.auth import create_key, revoke_key

ARTICLE = "china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals"
BODY = (
    "Official statistics for 2024 were released in Beijing. GDP grew 5.0 percent in 2024. "
    "The surveyed urban unemployment rate averaged 5.1 percent. GDP grew 5.0 percent in 2024."
)


@pytest.fixture
def key(session: Session) -> str:
    key = create_key(session, name="curator")
    session.flush()
    return key


@pytest.fixture
def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def stats(client: TestClient, auth: dict[str, str]) -> Iterator[dict]:
    response = client.post(
        "/v1/articles",
        headers=auth,
        json={
            "slug": "stats-2024",
            "title": "2024 statistics",
            "published_at": "2025-02-28T10:00:00+08:00",
            "body": BODY,
            "sectors": ["macroeconomy"],
        },
    )
    assert response.status_code == 201, response.text
    yield response.json()


def gdp_actual(evidence: dict) -> dict:
    """GDP growth of 2024 as the stats-2024 article states it, with ``evidence`` in it."""
    return {
        "period": "2024",
        "kind": "actual",
        "value": 5.0,
        "comparator": "eq",
        "unit": "percent",
        "value_text": "5.0 percent",
        "evidence": {"article": "stats-2024", **evidence},
    }


def snapshot(client: TestClient) -> list:
    return [
        client.get(url).json()
        for url in (
            "/v1/articles?limit=1000",
            "/v1/sectors?limit=1000",
            "/v1/indicators?limit=1000",
            "/v1/observations?limit=1000",
        )
    ]


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer "])
def test_writes_without_a_valid_key_are_401_and_change_nothing(
    client: TestClient, header: str | None
) -> None:
    before = snapshot(client)
    headers = {"Authorization": header} if header else {}
    response = client.post("/v1/sectors", headers=headers, json={"slug": "x", "name": "X"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert snapshot(client) == before


def test_a_revoked_key_is_refused(client: TestClient, session: Session, auth: dict) -> None:
    assert (
        client.post("/v1/sectors", headers=auth, json={"slug": "a", "name": "A"}).status_code == 201
    )
    revoke_key(session, name="curator")
    session.flush()
    assert (
        client.post("/v1/sectors", headers=auth, json={"slug": "b", "name": "B"}).status_code == 401
    )


def test_reads_need_no_key(client: TestClient) -> None:
    assert client.get("/v1/indicators").status_code == 200


# --- create ---------------------------------------------------------------------------------


def test_create_answers_201_with_location_and_the_resource(client: TestClient, stats: dict) -> None:
    assert stats["slug"] == "stats-2024" and stats["body"] == BODY
    assert stats["published_at"] == "2025-02-28T02:00:00+00:00"
    assert client.get("/v1/articles/stats-2024").json() == stats


def test_create_sets_location(client: TestClient, auth: dict) -> None:
    response = client.post("/v1/sectors", headers=auth, json={"slug": "steel", "name": "Steel"})
    assert response.status_code == 201
    assert response.headers["location"] == "/v1/sectors/steel"
    assert client.get(response.headers["location"]).json() == response.json()
    assert response.headers["etag"] == client.get("/v1/sectors/steel").headers["etag"]


def test_a_taken_slug_is_409(client: TestClient, auth: dict) -> None:
    response = client.post("/v1/sectors", headers=auth, json={"slug": "employment", "name": "X"})
    assert response.status_code == 409
    assert response.json()["status"] == 409


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"slug": "ok", "name": "Ok", "colour": "red"}, ["body", "colour"]),
        ({"slug": "Not A Slug", "name": "Ok"}, ["body", "slug"]),
        ({"slug": "ok"}, ["body", "name"]),
        ({"slug": "x" * 81, "name": "Ok"}, ["body", "slug"]),
    ],
)
def test_invalid_bodies_are_422_with_errors(
    client: TestClient, auth: dict, body: dict, loc: list
) -> None:
    response = client.post("/v1/sectors", headers=auth, json=body)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert client.get("/v1/sectors/ok").status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # Pydantic would read these as Unix time (20240305 seconds: August 1970).
        ("published_at", 1709596860),
        ("published_at", "20240305"),
        # In years 0 and 10000 once read in UTC: a 500 (OverflowError) when stored.
        ("published_at", "0001-01-01T00:00:00+05:00"),
        ("published_at", "9999-12-31T23:59:59-05:00"),
        # Longer than the column: PostgreSQL refused it (a 400), SQLite kept it (a 201).
        ("language", "en-abcdefgh-abcdefgh-abcdefgh-abcdefgh"),
    ],
)
def test_an_article_field_the_document_refuses_is_422(
    client: TestClient, auth: dict, field: str, value: object
) -> None:
    article = {"slug": "x", "title": "X", "published_at": "2025-02-28T10:00:00+08:00", "body": "B"}
    response = client.post("/v1/articles", headers=auth, json={**article, field: value})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["body", field]]
    assert client.get("/v1/articles/x").status_code == 404


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"value": True}, ["body", "value"]),
        ({"value": "5.0"}, ["body", "value"]),
        (
            {"evidence": {"article": ARTICLE, "quote": "5", "start": False}},
            ["body", "evidence", "start"],
        ),
        ({"evidence": {"article": ARTICLE, "quote": "5", "end": "9"}}, ["body", "evidence", "end"]),
    ],
)
def test_a_number_sent_as_a_boolean_or_text_is_422(
    client: TestClient, auth: dict, change: dict, loc: list
) -> None:
    """Pydantic's lax mode read `true` as 1 and `"9"` as 9 where the document says number."""
    observation = {
        "period": "2031",
        "kind": "target",
        "value": 5.0,
        "comparator": "approx",
        "unit": "percent",
        "value_text": "about 5 percent",
        "evidence": {"article": ARTICLE, "quote": "5"},
    }
    response = client.post(
        "/v1/indicators/chn-gdp-growth/observations", headers=auth, json={**observation, **change}
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [loc]


def test_a_nul_character_in_text_is_422_on_both_backends(client: TestClient, auth: dict) -> None:
    """PostgreSQL refused it as data (a 400 no write documents); SQLite stored it."""
    before = snapshot(client)
    response = client.post("/v1/sectors", headers=auth, json={"slug": "x", "name": "a\x00b"})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "name"]]
    bundle = {"sectors": [{"slug": "y", "name": "Y", "description": "\x00"}]}
    response = client.post("/v1/imports", headers=auth, json=bundle)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "sectors", 0, "description"]]
    tag = client.get("/v1/sectors/employment").headers["etag"]
    response = client.patch(
        "/v1/sectors/employment", headers={**auth, "If-Match": tag}, json={"name": "\x00"}
    )
    assert response.status_code == 422
    assert snapshot(client) == before


def test_unknown_sectors_of_an_indicator_are_422(client: TestClient, auth: dict) -> None:
    response = client.post(
        "/v1/indicators",
        headers=auth,
        json={
            "slug": "chn-cpi",
            "name": "CPI",
            "unit": "percent",
            "geography": "CHN",
            "frequency": "monthly",
            "better": "neutral",
            "sectors": ["macroeconomy", "nope"],
        },
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "sectors", 1]]
    assert client.get("/v1/indicators/chn-cpi").status_code == 404


def test_evidence_by_quote_is_found_in_the_body(
    client: TestClient, auth: dict, stats: dict
) -> None:
    quote = "The surveyed urban unemployment rate averaged 5.1 percent."
    response = client.post(
        "/v1/indicators/chn-urban-unemployment-rate/observations",
        headers=auth,
        json={
            "period": "2024",
            "kind": "actual",
            "value": 5.1,
            "comparator": "eq",
            "unit": "percent",
            "value_text": "5.1 percent",
            "evidence": {"article": "stats-2024", "quote": quote},
        },
    )
    assert response.status_code == 201, response.text
    evidence = response.json()["evidence"]
    assert BODY[evidence["start"] : evidence["end"]] == quote
    assert response.headers["location"] == f"/v1/observations/{response.json()['id']}"


@pytest.mark.parametrize(
    ("evidence", "reason"),
    [
        ({"quote": "GDP grew 9 percent."}, "not in the article body"),
        ({"quote": "GDP grew 5.0 percent in 2024."}, "more than once"),
        ({"quote": "GDP grew 5.0 percent in 2024.", "start": 0, "end": 10}, "is not the quote"),
        ({"quote": "GDP grew 5.0 percent in 2024.", "start": 55}, "both start and end"),
    ],
)
def test_evidence_that_is_not_in_the_body_is_422(
    client: TestClient, auth: dict, stats: dict, evidence: dict, reason: str
) -> None:
    response = client.post(
        "/v1/indicators/chn-gdp-growth/observations", headers=auth, json=gdp_actual(evidence)
    )
    assert response.status_code == 422
    assert reason in str(response.json()["errors"])


def test_the_same_observation_twice_is_409(client: TestClient, auth: dict) -> None:
    seed = client.get("/v1/indicators/chn-gdp-growth/observations").json()["items"][0]
    body = {k: seed[k] for k in ("period", "kind", "value", "comparator", "unit", "value_text")}
    body["evidence"] = {"article": ARTICLE, "quote": seed["evidence"]["quote"]}
    response = client.post("/v1/indicators/chn-gdp-growth/observations", headers=auth, json=body)
    assert response.status_code == 409


# --- update ---------------------------------------------------------------------------------


def test_patch_needs_if_match(client: TestClient, auth: dict) -> None:
    response = client.patch("/v1/sectors/employment", headers=auth, json={"name": "Jobs"})
    assert response.status_code == 428
    stale = client.patch(
        "/v1/sectors/employment", json={"name": "Jobs"}, headers={**auth, "If-Match": '"stale"'}
    )
    assert stale.status_code == 412
    weak = client.get("/v1/sectors/employment").headers["etag"]
    weak_match = client.patch(
        "/v1/sectors/employment", json={"name": "Jobs"}, headers={**auth, "If-Match": f"W/{weak}"}
    )
    assert weak_match.status_code == 412  # If-Match compares strongly
    assert client.get("/v1/sectors/employment").json()["name"] == "Employment"


def test_patch_merges_and_changes_the_etag(client: TestClient, auth: dict) -> None:
    before = client.get("/v1/indicators/chn-gdp-growth")
    list_tag = client.get("/v1/indicators").headers["etag"]
    response = client.patch(
        "/v1/indicators/chn-gdp-growth",
        headers={
            **auth,
            "If-Match": before.headers["etag"],
            "Content-Type": "application/merge-patch+json",
        },
        content=b'{"name": "Real GDP growth", "description": null}',
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Real GDP growth"
    assert response.json()["description"] is None
    assert response.json()["unit"] == "percent"  # untouched
    after = client.get("/v1/indicators/chn-gdp-growth")
    assert after.json() == response.json()
    assert after.headers["etag"] == response.headers["etag"] != before.headers["etag"]
    assert client.get("/v1/indicators").headers["etag"] != list_tag
    again = client.get(
        "/v1/indicators/chn-gdp-growth", headers={"If-None-Match": before.headers["etag"]}
    )
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("patch", "status"),
    [
        ({"slug": "renamed"}, 422),  # a slug, once published, stays
        ({"name": None}, 422),  # a required field cannot be removed
        ({"frequency": "weekly"}, 422),
        ({"sectors": ["no-such-sector"]}, 422),
        ({"colour": "red"}, 422),
    ],
)
def test_bad_patches_change_nothing(
    client: TestClient, auth: dict, patch: dict, status: int
) -> None:
    before = client.get("/v1/indicators/chn-gdp-growth")
    response = client.patch(
        "/v1/indicators/chn-gdp-growth",
        json=patch,
        headers={**auth, "If-Match": before.headers["etag"]},
    )
    assert response.status_code == status, response.text
    assert response.json()["errors"]
    assert client.get("/v1/indicators/chn-gdp-growth").json() == before.json()


def test_patch_takes_only_json(client: TestClient, auth: dict) -> None:
    tag = client.get("/v1/sectors/employment").headers["etag"]
    response = client.patch(
        "/v1/sectors/employment",
        content=b"name=Jobs",
        headers={**auth, "If-Match": tag, "Content-Type": "text/plain"},
    )
    assert response.status_code == 415


def test_patch_an_observation_quote_finds_it_again(client: TestClient, auth: dict) -> None:
    observation = client.get("/v1/indicators/chn-urban-unemployment-rate/observations").json()[
        "items"
    ][0]
    quote = "Looking ahead to 2024, the expansive ambition includes the genesis of over 12 million"
    tag = client.get(f"/v1/observations/{observation['id']}").headers["etag"]
    response = client.patch(
        f"/v1/observations/{observation['id']}",
        headers={**auth, "If-Match": tag},
        json={"value": 5.4, "evidence": {"quote": quote}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["value"] == 5.4
    assert response.json()["evidence"]["quote"] == quote
    assert response.json()["evidence"]["start"] == observation["evidence"]["start"]


def gdp_target(client: TestClient) -> tuple[dict, str]:
    url = "/v1/indicators/chn-gdp-growth/observations?kind=target"
    observation = client.get(url).json()["items"][0]
    return observation, client.get(f"/v1/observations/{observation['id']}").headers["etag"]


def test_patch_an_observations_period_moves_it(client: TestClient, auth: dict) -> None:
    observation, tag = gdp_target(client)
    total = client.get("/v1/observations").json()["total"]
    url = f"/v1/observations/{observation['id']}"
    response = client.patch(url, headers={**auth, "If-Match": tag}, json={"period": "2024-Q4"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        **observation,
        "period": "2024-Q4",
        "updated_at": response.json()["updated_at"],
    }
    assert client.get("/v1/observations").json()["total"] == total  # moved, not copied
    assert client.get("/v1/observations?period=2024-Q4").json()["items"] == [response.json()]


def test_patch_an_observation_onto_another_is_409(
    client: TestClient, auth: dict, stats: dict
) -> None:
    target, _ = gdp_target(client)
    quote = "GDP grew 5.0 percent in 2024."
    evidence = {"quote": quote, "start": 55, "end": 84}
    created = client.post(
        "/v1/indicators/chn-gdp-growth/observations", headers=auth, json=gdp_actual(evidence)
    )
    assert created.status_code == 201, created.text
    url = f"/v1/observations/{created.json()['id']}"
    tag = created.headers["etag"]
    patch = {"kind": "target", "evidence": target["evidence"]}
    response = client.patch(url, headers={**auth, "If-Match": tag}, json=patch)
    assert response.status_code == 409
    assert str(target["id"]) in response.json()["detail"]
    assert client.get(url).json() == created.json()


@pytest.mark.parametrize(
    ("evidence", "loc"),
    [
        ({"article": "no-such-article"}, ["body", "evidence", "article"]),
        ({"quote": "Not a sentence of the article."}, ["body", "evidence", "quote"]),
        ({"start": 0, "end": 3}, ["body", "evidence", "quote"]),
    ],
)
def test_patch_an_observation_with_evidence_not_in_the_body_is_422(
    client: TestClient, auth: dict, evidence: dict, loc: list
) -> None:
    observation, tag = gdp_target(client)
    url = f"/v1/observations/{observation['id']}"
    response = client.patch(url, headers={**auth, "If-Match": tag}, json={"evidence": evidence})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [loc]
    assert client.get(url).json() == observation


@pytest.mark.parametrize(
    ("url", "patch"),
    [
        (f"/v1/articles/{ARTICLE}", {"title": "A new title"}),
        ("/v1/sectors/employment", {"name": "Jobs"}),
        ("/v1/indicators/chn-gdp-growth", {"name": "Real GDP growth"}),
        ("observation", {"value_text": "about 5 percent"}),
    ],
)
def test_a_patch_changes_only_what_it_names(
    client: TestClient, auth: dict, url: str, patch: dict
) -> None:
    if url == "observation":
        url = f"/v1/observations/{gdp_target(client)[0]['id']}"
    before = client.get(url)
    response = client.patch(url, headers={**auth, "If-Match": before.headers["etag"]}, json=patch)
    assert response.status_code == 200, response.text
    changed = {k for k, v in response.json().items() if before.json()[k] != v}
    assert changed == {*patch, "updated_at"} & set(before.json())


def test_patch_an_article_body_that_moves_evidence_is_422(client: TestClient, auth: dict) -> None:
    article = client.get(f"/v1/articles/{ARTICLE}")
    response = client.patch(
        f"/v1/articles/{ARTICLE}",
        headers={**auth, "If-Match": article.headers["etag"]},
        json={"body": "Nothing is left of the article."},
    )
    assert response.status_code == 422
    assert all(e["loc"] == ["body", "body"] for e in response.json()["errors"])
    assert client.get(f"/v1/articles/{ARTICLE}").json() == article.json()


# --- delete ---------------------------------------------------------------------------------


def test_deleting_what_facts_depend_on_is_409_unless_cascaded(
    client: TestClient, auth: dict
) -> None:
    refused = client.delete(f"/v1/articles/{ARTICLE}", headers=auth)
    assert refused.status_code == 409
    assert "10 observation(s)" in refused.json()["detail"]
    assert client.get(f"/v1/articles/{ARTICLE}").status_code == 200
    refused = client.delete("/v1/indicators/chn-gdp-growth", headers=auth)
    assert refused.status_code == 409
    assert (
        client.delete("/v1/indicators/chn-gdp-growth?cascade=true", headers=auth).status_code == 204
    )
    assert client.get("/v1/indicators/chn-gdp-growth").status_code == 404
    assert client.delete(f"/v1/articles/{ARTICLE}?cascade=true", headers=auth).status_code == 204
    assert client.get("/v1/observations").json()["total"] == 0


def test_delete_a_sector_and_an_observation(client: TestClient, auth: dict) -> None:
    assert client.delete("/v1/sectors/employment", headers=auth).status_code == 204
    assert "employment" not in client.get("/v1/indicators/chn-new-urban-jobs").json()["sectors"]
    observation = client.get("/v1/observations").json()["items"][0]
    assert client.delete(f"/v1/observations/{observation['id']}", headers=auth).status_code == 204
    assert client.get(f"/v1/observations/{observation['id']}").status_code == 404
    assert client.delete("/v1/observations/999999", headers=auth).status_code == 404


def test_a_write_whose_commit_fails_is_not_reported_as_done(
    client: TestClient, auth: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Session) -> None:
        raise OperationalError("COMMIT", {}, Exception("the disk is full"))

    monkeypatch.setattr(Session, "commit", refuse)
    response = client.post("/v1/sectors", headers=auth, json={"slug": "steel", "name": "Steel"})
    assert response.status_code == 503  # the commit runs before the answer, never after


# --- source URLs ----------------------------------------------------------------------------

# Links a page showing the source would make clickable: only http and https may be stored.
NOT_WEB_URLS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "ftp://example.com/report.pdf",
    "//example.com/report",
    "/relative/path",
    "http://",
    "https://exa mple.com/",
    "https://example.com/\n",
    "not a url",
]


@pytest.mark.parametrize("url", NOT_WEB_URLS)
def test_a_source_url_other_than_http_or_https_is_422(
    client: TestClient, auth: dict, url: str
) -> None:
    before = snapshot(client)
    article = {"slug": "x", "title": "X", "published_at": "2025-02-28T10:00:00+08:00", "body": "B"}
    response = client.post("/v1/articles", headers=auth, json={**article, "source": {"url": url}})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "source", "url"]]
    tag = client.get(f"/v1/articles/{ARTICLE}").headers["etag"]
    patched = client.patch(
        f"/v1/articles/{ARTICLE}",
        headers={**auth, "If-Match": tag},
        json={"source": {"name": "x", "url": url}},
    )
    assert patched.status_code == 422, patched.text
    assert snapshot(client) == before


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/report?year=2024&lang=en#table-3",
        "HTTP://Example.COM",
        "http://127.0.0.1:8080/a%20b",
        "https://例え.jp/報告",
    ],
)
def test_a_web_source_url_is_kept_as_sent(client: TestClient, auth: dict, url: str) -> None:
    article = {"slug": "x", "title": "X", "published_at": "2025-02-28T10:00:00+08:00", "body": "B"}
    source = {"name": "Example", "url": url}
    response = client.post("/v1/articles", headers=auth, json={**article, "source": source})
    assert response.status_code == 201, response.text
    assert client.get("/v1/articles/x").json()["source"] == source
