"""Full-text search: any text is read as plain words, every word must match, best match first.

Runs on both backends (SQLite FTS5 with the porter stemmer, PostgreSQL 'english'); it asserts
only what both do. Their stemmers differ ("unemployed" is "unemploi" to porter and "unemploy"
to snowball, so only PostgreSQL finds "unemployment" from it), which is not asserted here.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient

LISTS = ("/v1/indicators", "/v1/articles", "/v1/sectors")
ENDPOINTS = ("/v1/search", *LISTS)
ARTICLE = "china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals"


def found(client: TestClient, path: str, q: str, **params: Any) -> list[str]:
    """The slugs that ``path`` finds for ``q`` (one page of up to 1000), in the order served."""
    response = client.get(path, params={"q": q, "limit": 1000, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"]) and body["next_cursor"] is None
    return [item["slug"] for item in body["items"]]


def walk(client: TestClient, path: str, params: dict[str, Any]) -> tuple[list[str], int]:
    """Every slug of every page, following ``next_cursor``; and the total of the first page."""
    slugs: list[str] = []
    cursor, total = None, None
    for _ in range(100):
        response = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        total = body["total"] if total is None else total
        assert body["total"] == total
        slugs += [item["slug"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in response.headers
            return slugs, total
        assert 'rel="next"' in response.headers["link"]
    raise AssertionError("the cursor walk does not end")


# --- any text is text ----------------------------------------------------------------------

HOSTILE = [
    '"',
    '"growth',
    'growth"',
    '""growth""',
    "'",
    "growth'",
    "''",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "growth AND",
    "OR growth",
    "growth NOT rate",
    "NEAR(growth rate)",
    "NEAR(growth rate, 2)",
    "growth*",
    "*",
    "^growth",
    "growth:",
    ":growth",
    "name:growth",
    "{name}:growth",
    "-growth",
    "growth -rate",
    "+growth",
    "(growth",
    "growth)",
    "(growth OR rate) AND NOT jobs",
    "%",
    "%growth%",
    "_",
    "gr_wth",
    "growth_rate",
    "\\",
    "growth\\",
    "\\\\\"'",
    "\x00",
    "growth\x00",
    "\x00growth\x00rate",
    "\x01\x1f\x7f growth",
    "😀",
    "growth 😀",
    "👩‍👩‍👧‍👦",
    "ｇｒｏｗｔｈ",
    "增长",
    "café",
    "e\u0301",
    "\u200b",
    "\ufffd",
    "' OR '1'='1",
    "growth' OR '1'='1",
    "'; DROP TABLE indicators; --",
    '"; DELETE FROM observations; --',
    "1; SELECT pg_sleep(5)",
    "') UNION SELECT * FROM articles --",
    "growth:* & rate | !jobs <-> x",
    "<script>alert(1)</script>",
    "   ",
    "",
    " ".join(["growth"] * 285),
    " ".join(f"w{i}" for i in range(400)),
    "x" * 2000,
    "é" * 2000,
    "growth " + "😀" * 993,
]


@pytest.mark.parametrize("q", HOSTILE, ids=[f"q{i}" for i in range(len(HOSTILE))])
def test_any_text_is_accepted_as_text(client: TestClient, q: str) -> None:
    assert len(q) <= 2000
    for path in ENDPOINTS:
        response = client.get(path, params={"q": q})
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert set(body) == {"items", "total", "next_cursor"}
        assert body["total"] >= len(body["items"])


@pytest.mark.parametrize("path", ENDPOINTS)
def test_q_of_2000_characters_is_served_and_2001_is_refused(client: TestClient, path: str) -> None:
    longest = " ".join(["growth"] * 285).ljust(2000, "!")
    assert found(client, path, longest) == found(client, path, "growth")
    response = client.get(path, params={"q": longest + "x"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in response.json()["errors"]] == [["query", "q"]]


# Each of these reads as the plain words on its right: no operator, prefix, column filter,
# phrase, exclusion or LIKE wildcard has any effect.
AS_WORDS = {
    '"growth"': "growth",
    "'growth'": "growth",
    "growth AND rate": "growth rate",
    "growth OR zzzzzz": "growth zzzzzz",
    "growth NOT rate": "growth rate",
    "growth -rate": "growth rate",
    "-growth": "growth",
    "+growth": "growth",
    "^growth": "growth",
    "growth*": "growth",
    "gr*": "gr",
    "%growth%": "growth",
    "gr%": "gr",
    "gr_wth": "gr wth",
    "growth_rate": "growth rate",
    "name:growth": "name growth",
    "NEAR(growth rate)": "near growth rate",
    "(growth) (rate)": "growth rate",
    "growth\\": "growth",
    "growth\x00rate": "growth rate",
    "growth 😀": "growth",
    "growth' OR '1'='1": "growth 1",
    "growth:* & !rate": "growth rate",
}


@pytest.mark.parametrize(("q", "words"), AS_WORDS.items(), ids=list(AS_WORDS.values()))
def test_operators_and_wildcards_mean_nothing(client: TestClient, q: str, words: str) -> None:
    for path in ENDPOINTS:
        assert sorted(found(client, path, q)) == sorted(found(client, path, words)), path


def test_operators_really_are_ignored(client: TestClient) -> None:
    # Were OR an operator this would find every growth indicator; were "-" one, it would
    # leave out the article, which holds both words.
    assert found(client, "/v1/indicators", "growth OR zzzzzz") == []
    assert found(client, "/v1/articles", "growth -rate") == [ARTICLE]
    assert found(client, "/v1/indicators", "gr*") == []  # no prefix search
    assert found(client, "/v1/indicators", "%growth%")  # LIKE wildcards are only punctuation


def test_only_punctuation_finds_nothing(client: TestClient) -> None:
    for q in ("", " ", "%", "_", "*", "\"'", "()", "-+^:*", "\\", "\x00", "😀", "…", "!" * 2000):
        for path in ENDPOINTS:
            assert found(client, path, q) == [], (path, q)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_stopwords_alone_find_nothing_on_either_backend(client: TestClient, path: str) -> None:
    # PostgreSQL's 'english' leaves these out of the index; SQLite leaves them out of queries.
    assert found(client, path, "the") == []
    assert found(client, path, "THE and OF") == []
    assert found(client, path, "the growth") == found(client, path, "growth")


def test_injection_changes_nothing(client: TestClient) -> None:
    before = client.get("/v1/indicators", params={"limit": 1000}).json()
    for q in ("'; DROP TABLE indicators; --", '"; DELETE FROM indicators; --'):
        for path in ENDPOINTS:
            assert client.get(path, params={"q": q}).status_code == 200
    assert client.get("/v1/indicators", params={"limit": 1000}).json() == before


# --- every word, any order, stemmed ----------------------------------------------------------


def test_every_word_must_match_in_any_order(client: TestClient) -> None:
    assert found(client, "/v1/indicators", "urban rate") == ["chn-urban-unemployment-rate"]
    assert found(client, "/v1/indicators", "rate urban") == ["chn-urban-unemployment-rate"]
    assert found(client, "/v1/indicators", "urban jobs") == ["chn-new-urban-jobs"]
    assert set(found(client, "/v1/indicators", "urban")) == {
        "chn-urban-unemployment-rate",
        "chn-new-urban-jobs",
    }
    assert found(client, "/v1/indicators", "urban zzzzzz") == []
    assert set(found(client, "/v1/indicators", "renewable capacity")) == {
        "chn-renewable-capacity-exceeds-thermal",
        "chn-share-of-global-new-renewable-capacity",
    }
    assert found(client, "/v1/indicators", "renewable thermal") == [
        "chn-renewable-capacity-exceeds-thermal"
    ]


def test_a_number_is_found_as_the_article_writes_it(client: TestClient) -> None:
    # PostgreSQL's parser keeps "28.6" as one word, FTS5 reads "28" and "6": both find it.
    assert found(client, "/v1/articles", "28.6 percent") == [ARTICLE]
    assert found(client, "/v1/articles", "5.5") == [ARTICLE]
    assert found(client, "/v1/articles", "99.9") == []


@pytest.mark.parametrize(
    ("q", "slug"),
    [
        ("rates", "chn-urban-unemployment-rate"),
        ("Unemployment Rates", "chn-urban-unemployment-rate"),
        ("unemployment", "chn-urban-unemployment-rate"),
        ("taxpayer", "chn-special-additional-deduction-taxpayers"),
        ("deduction", "chn-special-additional-deduction-taxpayers"),
        ("growths", "chn-gdp-growth"),
        ("bond", "chn-ultra-long-special-treasury-bonds"),
        ("job", "chn-new-urban-jobs"),
        ("GDP", "chn-gdp-growth"),
        ("gdp", "chn-gdp-growth"),
    ],
)
def test_words_are_stemmed_and_case_is_ignored(client: TestClient, q: str, slug: str) -> None:
    assert slug in found(client, "/v1/indicators", q)
    assert slug in found(client, "/v1/search", q)


def test_sectors_and_articles_are_searched_by_their_documented_fields(client: TestClient) -> None:
    # Sectors: name and description.
    assert "employment" in found(client, "/v1/sectors", "unemployment")  # description only
    assert found(client, "/v1/sectors", "Macroeconomy") == ["macroeconomy"]
    # Articles: title, subtitle, summary, author and body.
    for q in (
        "Ushers Prowess",
        "Commitment Innovation",
        "Leo Gonzalez",
        "Premier Li Qiang",
        "amidst fast-evolving landscape",
    ):
        assert found(client, "/v1/articles", q) == [ARTICLE], q


# --- best match first -------------------------------------------------------------------------


def test_search_puts_the_indicator_named_for_the_word_first(client: TestClient) -> None:
    # The employment sector and the article only mention the word; the indicator is named so.
    items = client.get("/v1/search", params={"q": "unemployment"}).json()["items"]
    assert (items[0]["type"], items[0]["slug"]) == ("indicator", "chn-urban-unemployment-rate")
    assert {(i["type"], i["slug"]) for i in items} == {
        ("indicator", "chn-urban-unemployment-rate"),
        ("sector", "employment"),
        ("article", ARTICLE),
    }
    for item in items:
        assert set(item) == {"type", "slug", "title", "snippet"}
        assert "unemployment" in item["snippet"]  # cut around the word, from the item's own text
    article = client.get(f"/v1/articles/{ARTICLE}").json()
    snippet = next(i["snippet"] for i in items if i["type"] == "article").strip("…")
    assert snippet in " ".join(article["summary"].split())  # the summary, not the body


# (path, q, the items whose name holds the word, the items that only mention it elsewhere)
NAME_BEATS_DESCRIPTION = [
    (
        "/v1/indicators",
        "income",
        {"chn-per-capita-disposable-income-growth"},
        {"chn-special-additional-deduction-taxpayers"},
    ),
    (
        "/v1/indicators",
        "energy",
        {"chn-share-of-global-new-renewable-capacity"},
        {"chn-renewable-capacity-exceeds-thermal", "chn-artificial-intelligence-plus-initiative"},
    ),
    (
        "/v1/indicators",
        "capacity",
        {"chn-renewable-capacity-exceeds-thermal", "chn-share-of-global-new-renewable-capacity"},
        {"chn-ultra-long-special-treasury-bonds"},
    ),
    (
        "/v1/sectors",
        "technology",
        {"science-and-technology", "quantum-technology", "healthcare"},
        {"digital-economy", "agriculture"},
    ),
    ("/v1/sectors", "power", {"thermal-power", "hydrogen-power"}, {"renewable-energy"}),
    (
        "/v1/search",
        "growth",
        {
            "chn-gdp-growth",
            "chn-per-capita-disposable-income-growth",
            "chn-technology-contract-transactions-growth",
        },
        {"macroeconomy", ARTICLE},
    ),
    (
        "/v1/search",
        "vehicles",
        {"intelligent-connected-vehicles"},
        {"chn-artificial-intelligence-plus-initiative"},
    ),
    (
        "/v1/search",
        "technology",
        {
            "science-and-technology",
            "quantum-technology",
            "healthcare",
            "chn-technology-contract-transactions-growth",
        },
        {"digital-economy", "agriculture"},
    ),
]


@pytest.mark.parametrize(("path", "q", "named", "mentioned"), NAME_BEATS_DESCRIPTION)
def test_a_match_in_the_name_beats_one_in_the_description(
    client: TestClient, path: str, q: str, named: set[str], mentioned: set[str]
) -> None:
    slugs = found(client, path, q)
    assert named | mentioned <= set(slugs)
    last_named = max(slugs.index(s) for s in named)
    first_mentioned = min(slugs.index(s) for s in mentioned)
    assert last_named < first_mentioned, slugs


@pytest.mark.parametrize(
    ("path", "q", "sort", "field"),
    [
        ("/v1/indicators", "growth", "-slug", "slug"),
        ("/v1/indicators", "percent", "name", "name"),
        ("/v1/sectors", "2024", "slug", "slug"),
        ("/v1/sectors", "technology", "-name", "name"),
        ("/v1/articles", "growth", "title", "title"),
    ],
)
def test_sort_given_with_q_orders_by_that_sort(
    client: TestClient, path: str, q: str, sort: str, field: str
) -> None:
    response = client.get(path, params={"q": q, "sort": sort, "limit": 1000})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert {i["slug"] for i in items} == set(found(client, path, q))
    values = [i[field] for i in items]
    assert values == sorted(values, reverse=sort.startswith("-"))
    assert len(items) >= 1


# --- pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "q", "limit"),
    [
        ("/v1/search", "technology", 2),
        ("/v1/search", "2024", 2),  # six sectors with the same description: ties on score
        ("/v1/search", "percent", 1),
        ("/v1/search", "china", 4),
        ("/v1/indicators", "percent", 2),
        ("/v1/sectors", "2024", 4),
        ("/v1/sectors", "technology", 1),
        ("/v1/articles", "growth", 1),
    ],
)
def test_a_cursor_walk_over_results_serves_each_item_once(
    client: TestClient, path: str, q: str, limit: int
) -> None:
    everything = found(client, path, q)
    assert len(everything) > limit or path == "/v1/articles"
    walked, total = walk(client, path, {"q": q, "limit": limit})
    assert total == len(everything)
    assert sorted(walked) == sorted(everything)  # each exactly once
    assert walked == everything  # in the same order as one long page


def test_a_cursor_walk_with_q_and_sort(client: TestClient) -> None:
    walked, total = walk(client, "/v1/indicators", {"q": "percent", "sort": "-name", "limit": 2})
    assert total == len(walked) == len(set(walked))
    assert walked == found(client, "/v1/indicators", "percent", sort="-name")
