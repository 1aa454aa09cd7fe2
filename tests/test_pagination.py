"""Keyset pagination: every list, every documented sort, both ways, walked page by page.

The seed is too small to show ties or depth, so each test loads a corpus of its own (rolled
back at the end) in which names, titles, publication instants, period starts and search scores
are shared by several rows: only the id tiebreak orders those, and a walk that loses or repeats
a row across a page boundary fails.
"""

import base64
import hmac
import threading
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import search
from app.cli import load, seed_bundle
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.importer import load_bundle
from app.main import create_app
from app.migrate import upgrade
from app.models import Article, Indicator, Observation, Secret, Sector
from app.pagination import SortKey, cursor_secret
from app.routers import articles, indicators, observations, sectors, targets
from app.schemas import Bundle, period_bounds

LIMITS = (1, 2, 3, 7)
WORD = "quokka"  # a word only the corpus uses, so that search has many hits with equal scores
TIED_INSTANT = "2024-06-01T12:00:00+00:00"
PERIODS = ("2022", "2023", "2023-Q2", "2023-07", "2024", "2024-Q1", "2024-01")
MANY = 9  # indicators, so that one indicator has a deep list of its own


def sentences(n: int) -> list[str]:
    """The sentences of article ``n``, each the quote of some observations."""
    return [
        f"The {WORD} index rose, by most counts, to {n} percent — a record.",
        f"Officials said the plan, which runs to 2025, would add {n} million jobs.",
        f"Milestone {n}: the pilot zone opened — on time, and on budget.",
    ]


def corpus() -> Bundle:
    """Rows whose sort keys tie in every way the sorts can tie."""
    sector_rows = [
        {
            "slug": f"pg-sector-{i}",
            "name": "Tied sector",
            "description": f"A {WORD} sector, described the same way.",
        }
        for i in range(1, 5)
    ] + [
        {"slug": "pg-sector-a", "name": "Aardvark sector", "description": f"{WORD} first"},
        {"slug": "pg-sector-z", "name": "Zebra sector", "description": "No match here."},
    ]
    article_rows = []
    for i in range(1, 8):
        article_rows.append(
            {
                "slug": f"pg-article-{i}",
                # Three titles tie; four instants tie, one of them written with another offset.
                "title": "Tied title" if i <= 3 else f"Article {i}",
                "published_at": (
                    TIED_INSTANT
                    if i <= 3
                    else "2024-06-01T20:00:00+08:00"
                    if i == 4
                    else f"2024-0{i - 3}-15T08:00:00+00:00"
                ),
                "summary": f"About the {WORD}." if i <= 5 else None,
                "body": " ".join(sentences(i)),
                "sectors": ["pg-sector-1", "pg-sector-a"] if i % 2 else ["pg-sector-2"],
            }
        )
    indicator_rows = [
        {
            "slug": f"pg-indicator-{i}",
            "name": "Tied indicator" if i <= 4 else f"Indicator {i}",
            "description": f"The {WORD} count." if i <= 6 else "Plain.",
            "unit": "percent",
            "geography": "CHN",
            "frequency": "annual",
            "better": "higher",
            "sectors": ["pg-sector-1"],
        }
        for i in range(1, MANY + 1)
    ]
    observation_rows = []
    # pg-indicator-1 has every period and kind, a deep list of its own; the others tie on 2024.
    rows = [(1, period, kind) for period in PERIODS for kind in ("actual", "target", "plan")]
    rows += [(i, "2024", kind) for i in range(2, MANY + 1) for kind in ("actual", "target")]
    for k, (i, period, kind) in enumerate(rows):
        n = k % 7 + 1
        quote = sentences(n)[k % 3]
        milestone = quote.startswith("Milestone")
        observation_rows.append(
            {
                "indicator": f"pg-indicator-{i}",
                "period": period,
                "kind": kind,
                "value": None if milestone else float(n),
                "comparator": None if milestone else "approx",
                "unit": None if milestone else "percent",
                "value_text": quote.split(":")[0] if milestone else f"{n} percent",
                "evidence": {"article": f"pg-article-{n}", "quote": quote},
            }
        )
    return Bundle.model_validate(
        {
            "sectors": sector_rows,
            "articles": article_rows,
            "indicators": indicator_rows,
            "observations": observation_rows,
        }
    )


@pytest.fixture
def loaded(session: Session) -> Session:
    load_bundle(session, corpus())
    session.flush()
    return session


# --- walking --------------------------------------------------------------------------------


def walk(client: TestClient, url: str) -> list[dict[str, Any]]:
    """Every item of ``url``, following ``Link: rel="next"`` while there is one."""
    items: list[dict[str, Any]] = []
    total = None
    next_url: str | None = url
    pages = 0
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, (next_url, response.text)
        body = response.json()
        assert set(body) == {"items", "total", "next_cursor"}
        limit = int(dict(parse_qsl(urlsplit(next_url).query)).get("limit", 20))
        assert len(body["items"]) <= limit
        if total is None:
            total = body["total"]
        assert body["total"] == total, "the total changed between pages"
        items += body["items"]
        pages += 1
        link = response.headers.get("link")
        if body["next_cursor"] is None:
            assert link is None, f"a Link header on the last page of {url}"
            next_url = None
        else:
            assert len(body["items"]) == limit, "a short page that is not the last"
            next_url = next_link(link, sent=next_url, cursor=body["next_cursor"])
        assert pages <= total + 1, f"the walk of {url} does not end"
    assert total == len(items), f"total {total}, walked {len(items)} for {url}"
    return items


def next_link(link: str | None, *, sent: str, cursor: str) -> str:
    """The next page's URL from the ``Link`` header: the same query with the new cursor."""
    assert link is not None, f"no Link header although next_cursor is set for {sent}"
    assert link.startswith("<") and link.endswith('>; rel="next"'), link
    target = urlsplit(link[1 : -len('>; rel="next"')])
    query = parse_qsl(target.query, keep_blank_values=True)
    assert dict(query)["cursor"] == cursor
    sent_query = [
        (k, v) for k, v in parse_qsl(urlsplit(sent).query, keep_blank_values=True) if k != "cursor"
    ]
    assert [(k, v) for k, v in query if k != "cursor"] == sent_query
    assert target.path == urlsplit(sent).path
    return f"{target.path}?{target.query}"


def with_query(url: str, **params: Any) -> str:
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


# --- order ----------------------------------------------------------------------------------


def ranks(session: Session, key: SortKey) -> dict[Any, int] | None:
    """For text keys, each value's place in the database's own collation; else None."""
    if key.type != "str":
        return None
    column = key.column
    return {v: i for i, v in enumerate(session.scalars(select(column).distinct().order_by(column)))}


def assert_order(keys: list[tuple[Any, int]], *, descending: bool, what: str) -> None:
    """Strictly monotonic (key, id): the sort is obeyed and ties are broken by id."""
    for before, after in pairwise(keys):
        if descending:
            assert before > after, f"{what}: {before} then {after}"
        else:
            assert before < after, f"{what}: {before} then {after}"


def ids_by_slug(session: Session, model: Any) -> dict[str, int]:
    return dict(session.execute(select(model.slug, model.id)).all())


Extract = Callable[[dict[str, Any]], Any]


def check_walks(
    client: TestClient,
    url: str,
    *,
    sort_key: Extract,
    tiebreak: Extract,
    descending: bool,
    rank: dict[Any, int] | None,
    expected: set[Any],
    identity: Extract,
) -> None:
    """Walk ``url`` with each small limit: the same rows, each once, in (key, id) order."""
    reference = None
    for limit in LIMITS:
        items = walk(client, with_query(url, limit=limit))
        found = [identity(item) for item in items]
        assert len(found) == len(set(found)), f"{url} limit={limit} repeats an item"
        assert set(found) == expected, f"{url} limit={limit}: missing or extra items"
        keys = [
            (rank[sort_key(item)] if rank is not None else sort_key(item), tiebreak(item))
            for item in items
        ]
        assert_order(keys, descending=descending, what=f"{url} limit={limit}")
        if reference is None:
            reference = found
        assert found == reference, f"{url}: limit {limit} walks another order"


def sort_params(keys: dict[str, SortKey]) -> list[tuple[str, SortKey, bool]]:
    return [
        (f"{prefix}{name}", key, prefix == "-")
        for name, key in keys.items()
        for prefix in ("", "-")
    ]


# --- the lists ------------------------------------------------------------------------------

ARTICLE_KEYS: dict[str, Extract] = {
    "published_at": lambda a: datetime.fromisoformat(a["published_at"]),
    "title": lambda a: a["title"],
    "slug": lambda a: a["slug"],
}
NAMED_KEYS: dict[str, Extract] = {"slug": lambda x: x["slug"], "name": lambda x: x["name"]}
OBSERVATION_KEYS: dict[str, Extract] = {
    "period": lambda o: period_bounds(o["period"])[0],
    "id": lambda o: o["id"],
}


def test_every_sort_is_known_to_this_test() -> None:
    # A sort added to a router must be walked here too.
    assert set(articles.SORTS) == set(ARTICLE_KEYS)
    assert set(sectors.SORTS) == set(NAMED_KEYS)
    assert set(indicators.SORTS) == set(NAMED_KEYS)
    assert set(observations.SORTS) == set(OBSERVATION_KEYS)
    assert set(targets.SORTS) == set(OBSERVATION_KEYS)


@pytest.mark.parametrize(
    ("path", "model", "keys", "extract"),
    [
        ("/v1/articles", Article, articles.SORTS, ARTICLE_KEYS),
        ("/v1/sectors", Sector, sectors.SORTS, NAMED_KEYS),
        ("/v1/indicators", Indicator, indicators.SORTS, NAMED_KEYS),
    ],
)
def test_named_lists_walk_in_every_sort(
    client: TestClient,
    loaded: Session,
    path: str,
    model: Any,
    keys: dict[str, SortKey],
    extract: dict[str, Extract],
) -> None:
    ids = ids_by_slug(loaded, model)
    for sort, key, descending in sort_params(keys):
        check_walks(
            client,
            f"{path}?sort={sort}",
            sort_key=extract[sort.removeprefix("-")],
            tiebreak=lambda x: ids[x["slug"]],
            descending=descending,
            rank=ranks(loaded, key),
            expected=set(ids),
            identity=lambda x: x["slug"],
        )


@pytest.mark.parametrize(
    ("path", "model", "keys", "extract"),
    [
        ("/v1/articles", Article, articles.SORTS, ARTICLE_KEYS),
        ("/v1/sectors", Sector, sectors.SORTS, NAMED_KEYS),
        ("/v1/indicators", Indicator, indicators.SORTS, NAMED_KEYS),
    ],
)
def test_searched_lists_walk_best_first_and_in_every_sort(
    client: TestClient,
    loaded: Session,
    path: str,
    model: Any,
    keys: dict[str, SortKey],
    extract: dict[str, Extract],
) -> None:
    ids = ids_by_slug(loaded, model)
    scores = search.scores(model, WORD, loaded.get_bind().dialect.name)
    score_of = dict(loaded.execute(select(scores.c.id, scores.c.score)).all())
    matching = {slug for slug, id_ in ids.items() if id_ in score_of}
    assert len(matching) >= 4
    # No sort: best match first (the lowest score), ties by id.
    check_walks(
        client,
        f"{path}?q={WORD}",
        sort_key=lambda x: score_of[ids[x["slug"]]],
        tiebreak=lambda x: ids[x["slug"]],
        descending=False,
        rank=None,
        expected=matching,
        identity=lambda x: x["slug"],
    )
    for sort, key, descending in sort_params(keys):
        check_walks(
            client,
            f"{path}?q={WORD}&sort={sort}",
            sort_key=extract[sort.removeprefix("-")],
            tiebreak=lambda x: ids[x["slug"]],
            descending=descending,
            rank=ranks(loaded, key),
            expected=matching,
            identity=lambda x: x["slug"],
        )


def observation_ids(session: Session, *conditions: Any) -> set[int]:
    return set(session.scalars(select(Observation.id).where(*conditions)))


@pytest.mark.parametrize("sort", ["period", "-period", "id", "-id"])
def test_observations_walk_in_every_sort(client: TestClient, loaded: Session, sort: str) -> None:
    check_walks(
        client,
        f"/v1/observations?sort={sort}",
        sort_key=OBSERVATION_KEYS[sort.removeprefix("-")],
        tiebreak=lambda o: o["id"],
        descending=sort.startswith("-"),
        rank=None,
        expected=observation_ids(loaded),
        identity=lambda o: o["id"],
    )


@pytest.mark.parametrize("sort", ["period", "-period", "id", "-id"])
def test_an_indicators_observations_walk_in_every_sort(
    client: TestClient, loaded: Session, sort: str
) -> None:
    indicator_id = ids_by_slug(loaded, Indicator)["pg-indicator-1"]
    expected = observation_ids(loaded, Observation.indicator_id == indicator_id)
    assert len(expected) == 3 * len(PERIODS)
    check_walks(
        client,
        f"/v1/indicators/pg-indicator-1/observations?sort={sort}",
        sort_key=OBSERVATION_KEYS[sort.removeprefix("-")],
        tiebreak=lambda o: o["id"],
        descending=sort.startswith("-"),
        rank=None,
        expected=expected,
        identity=lambda o: o["id"],
    )


@pytest.mark.parametrize("sort", ["period", "-period", "id", "-id"])
def test_targets_walk_in_every_sort(client: TestClient, loaded: Session, sort: str) -> None:
    check_walks(
        client,
        f"/v1/targets?sort={sort}",
        sort_key=lambda t: OBSERVATION_KEYS[sort.removeprefix("-")](t["target"]),
        tiebreak=lambda t: t["target"]["id"],
        descending=sort.startswith("-"),
        rank=None,
        expected=observation_ids(loaded, Observation.kind.in_(("target", "plan"))),
        identity=lambda t: t["target"]["id"],
    )


def test_search_walks_best_first(client: TestClient, loaded: Session) -> None:
    dialect = loaded.get_bind().dialect.name
    score_of: dict[tuple[str, str], float] = {}
    for type_, model in (("article", Article), ("sector", Sector), ("indicator", Indicator)):
        scores = search.scores(model, WORD, dialect)
        rows = loaded.execute(
            select(model.slug, scores.c.score).join(scores, scores.c.id == model.id)
        )
        score_of.update({(type_, slug): score for slug, score in rows})
    assert len(score_of) >= 12
    reference = None
    for limit in LIMITS:
        items = walk(client, f"/v1/search?q={WORD}&limit={limit}")
        found = [(item["type"], item["slug"]) for item in items]
        assert len(found) == len(set(found)), f"limit={limit} repeats an item"
        assert set(found) == set(score_of)
        ranked = [score_of[hit] for hit in found]
        assert ranked == sorted(ranked), f"limit={limit}: not best first"
        reference = reference or found
        assert found == reference


@pytest.mark.parametrize(
    "url",
    [
        "/v1/observations?kind=target&kind=plan&period_from=2023&sort=-period",
        "/v1/observations?sector=pg-sector-1&period_to=2023",
        "/v1/observations?indicator=pg-indicator-1&article=pg-article-1",
        "/v1/indicators/pg-indicator-1/observations?kind=actual&kind=plan&period_from=2023-Q2",
        "/v1/articles?sector=pg-sector-1&published_from=2024-06-01&sort=title",
        "/v1/indicators?unit=percent&sector=pg-sector-1&sort=-name",
        "/v1/targets?period=2024&sort=-period",
        "/v1/targets?sector=pg-sector-1",
        # Text that the Link header has to encode again: a space, a dash, a non-ASCII letter.
        "/v1/sectors?q=%E2%80%9Cdescribed%E2%80%9D%2C%20sector&sort=-slug",
        "/v1/search?q=%E2%80%9CQuokka%E2%80%9D+index",
    ],
)
def test_filtered_walks_keep_their_filters(client: TestClient, loaded: Session, url: str) -> None:
    everything = client.get(with_query(url, limit=1000)).json()
    assert everything["next_cursor"] is None
    assert 2 <= everything["total"] == len(everything["items"])
    for limit in LIMITS:
        assert walk(client, with_query(url, limit=limit)) == everything["items"]


# --- limits ---------------------------------------------------------------------------------


def test_limit_defaults_to_20_and_takes_1_to_1000(client: TestClient, loaded: Session) -> None:
    count = loaded.scalar(select(func.count()).select_from(Observation))
    assert count is not None and count > 20
    first = client.get("/v1/observations")
    assert first.status_code == 200
    assert len(first.json()["items"]) == 20 and first.json()["total"] == count
    assert first.json()["next_cursor"] is not None and "link" in first.headers
    one = client.get("/v1/observations?limit=1").json()
    assert len(one["items"]) == 1 and one["next_cursor"] is not None
    everything = client.get("/v1/observations?limit=1000")
    assert everything.status_code == 200
    assert len(everything.json()["items"]) == count
    assert everything.json()["next_cursor"] is None and "link" not in everything.headers
    for bad in ("0", "1001", "-1", "many"):
        response = client.get(f"/v1/observations?limit={bad}")
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"


def test_a_page_ends_exactly_at_the_last_item(client: TestClient, loaded: Session) -> None:
    # With as many items as the limit there is no next page, and no empty page after it.
    total = client.get("/v1/sectors").json()["total"]
    exact = client.get(f"/v1/sectors?limit={total}")
    assert exact.json()["next_cursor"] is None and "link" not in exact.headers
    short = client.get(f"/v1/sectors?limit={total - 1}")
    assert short.json()["next_cursor"] is not None
    last = client.get(f"/v1/sectors?limit={total - 1}&cursor={short.json()['next_cursor']}")
    assert len(last.json()["items"]) == 1 and last.json()["next_cursor"] is None


def test_an_empty_list_has_no_cursor(client: TestClient) -> None:
    response = client.get("/v1/observations?indicator=no-such-indicator")
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "next_cursor": None}
    assert "link" not in response.headers


def test_a_cursor_belongs_to_its_query(client: TestClient, loaded: Session) -> None:
    cursor = client.get("/v1/sectors?limit=2&sort=name").json()["next_cursor"]
    assert client.get(f"/v1/sectors?limit=2&sort=name&cursor={cursor}").status_code == 200
    # Another sort, another filter or another list: not this cursor's query.
    for url in (
        "/v1/sectors?sort=-name",
        "/v1/sectors?sort=slug",
        "/v1/sectors?q=tied",
        "/v1/indicators?sort=name",
    ):
        response = client.get(with_query(url, cursor=cursor))
        assert response.status_code == 400, url
        assert response.headers["content-type"] == "application/problem+json"
    for broken in (
        cursor[:-3],
        cursor[1:],
        "x" + cursor,
        cursor.replace(".", ""),
        "",
        ".",
        "a.b",
        "a",
        "é." + cursor,
        cursor + "==",
        cursor.replace(".", "!."),
    ):
        response = client.get("/v1/sectors", params={"sort": "name", "cursor": broken})
        assert response.status_code == 400, broken


# A value of every filter a list takes, other than none (and, for the search box, than `q`).
FILTER_VALUES = {
    "q": WORD,
    "sector": "pg-sector-1",
    "geography": "USA",
    "unit": "CNY",
    "published_from": "2025-01-01",
    "published_to": "2020-01-01",
    "indicator": "pg-indicator-1",
    "article": "pg-article-1",
    "kind": "plan",
    "period": "2023",
    "period_from": "2030",
    "period_to": "2000",
}
PAGE_PARAMETERS = {"limit", "cursor", "sort", "format"}


def test_every_filter_belongs_to_the_query_of_its_cursors(
    client: TestClient, loaded: Session
) -> None:
    """A cursor issued without a filter is refused with it, for every filter of every
    list: a filter that were not part of the query would share its cached page statement,
    total and cursors with the unfiltered list."""
    document = client.get("/openapi.json").json()
    checked = 0
    for path, operations in document["paths"].items():
        operation = operations.get("get", {})
        if "Page" not in str(operation.get("responses", {}).get("200", "")):
            continue
        base = path.replace("{slug}", "pg-indicator-1") + "?limit=1"
        if path == "/v1/search":
            base += "&q=tied"
        names = [
            p["name"]
            for p in operation["parameters"]
            if p["in"] == "query" and p["name"] not in PAGE_PARAMETERS
        ]
        if path == "/v1/search":
            names.remove("q")  # in the base: its other values are other queries (test_errors)
        cursor = client.get(base).json()["next_cursor"]
        assert cursor, base
        for name in names:
            url = f"{base}&{name}={FILTER_VALUES[name]}&cursor={cursor}"
            assert client.get(url).status_code == 400, url
            checked += 1
    assert checked >= 20


# --- the key that signs cursors -------------------------------------------------------------


def payload_of(cursor: str) -> dict[str, Any]:
    data = cursor.partition(".")[0]
    parsed: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    return parsed


def signed(payload: bytes, key: Callable[[bytes], bytes]) -> str:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64(payload)}.{b64(key(payload))}"


def with_keys(cursor: str, keys: str) -> bytes:
    """The payload of ``cursor`` with its sort key and id replaced by the JSON ``keys``."""
    issued = payload_of(cursor)
    return b'{"s":%s,"q":%s,"k":%s}' % (
        orjson.dumps(issued["s"]),
        orjson.dumps(issued["q"]),
        keys.encode(),
    )


def test_a_cursor_signed_with_the_old_public_default_is_refused(
    client: TestClient, loaded: Session
) -> None:
    """The secret defaulted to a constant anyone can read in the source: with it, anyone
    could sign a cursor holding whatever they liked."""
    cursor = client.get("/v1/sectors?limit=2&sort=name").json()["next_cursor"]
    assert client.get(f"/v1/sectors?limit=2&sort=name&cursor={cursor}").status_code == 200
    payload = base64.urlsafe_b64decode(cursor.partition(".")[0] + "==")
    old = signed(payload, lambda p: hmac.new(b"policyfacts-cursors", p, "sha256").digest()[:12])
    response = client.get(f"/v1/sectors?limit=2&sort=name&cursor={old}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


# (a list that pages, the keys a forged cursor holds): values no cursor of the server holds.
OUT_OF_RANGE = [
    ("/v1/observations?sort=id&limit=1", f"[{2**63}, 1]"),
    ("/v1/observations?sort=id&limit=1", f"[{2**31}, 1]"),
    ("/v1/observations?sort=-id&limit=1", f"[1, {2**63}]"),
    ("/v1/observations?sort=id&limit=1", f"[{-(2**63) - 1}, 1]"),
    ("/v1/observations?sort=id&limit=1", f"[{2**64}, 1]"),
    ("/v1/sectors?q=tied&limit=1", "[1e309, 1]"),
    ("/v1/sectors?q=tied&limit=1", "[NaN, 1]"),
    ("/v1/observations?sort=period&limit=1", '["0000-01-01", 1]'),
    ("/v1/observations?sort=period&limit=1", '["2024-02-30", 1]'),
    ("/v1/articles?sort=published_at&limit=1", '["2024-06-01T12:00:00", 1]'),
    ("/v1/articles?sort=published_at&limit=1", '["10000-01-01T00:00:00+00:00", 1]'),
    ("/v1/indicators?sort=name&limit=1", '["Tied\\u0000indicator", 1]'),
    ("/v1/indicators?sort=name&limit=1", f'["{"x" * 1001}", 1]'),
]


@pytest.mark.parametrize(("url", "keys"), OUT_OF_RANGE, ids=[k[:40] for _, k in OUT_OF_RANGE])
def test_a_signed_cursor_holding_what_no_row_holds_is_refused(
    client: TestClient, loaded: Session, url: str, keys: str
) -> None:
    """Were the key to leak, a forged cursor would still be a 400: 2**63 was a 500 on SQLite
    (the driver's OverflowError)."""
    cursor = client.get(url).json()["next_cursor"]
    assert client.get(f"{url}&cursor={cursor}").status_code == 200
    cursors = client.app.state.cursors  # type: ignore[attr-defined]
    forged = signed(with_keys(cursor, keys), cursors._sign)
    response = client.get(f"{url}&cursor={forged}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "cursor" in response.json()["detail"]


def test_a_signed_cursor_at_the_edge_of_the_range_is_served(
    client: TestClient, loaded: Session
) -> None:
    cursors = client.app.state.cursors  # type: ignore[attr-defined]
    url = "/v1/observations?sort=id&limit=1"
    cursor = client.get(url).json()["next_cursor"]
    for keys in (f"[{2**31 - 1}, 1]", f"[{-(2**31)}, 1]", f"[1, {2**31 - 1}]"):
        forged = signed(with_keys(cursor, keys), cursors._sign)
        response = client.get(f"{url}&cursor={forged}")
        # Ids at the ends of the id columns' range: past every row or before, not an error.
        assert response.status_code == 200, response.text


def fresh_database(new_database: Callable[[], str]) -> str:
    url = new_database()
    engine = make_engine(url)
    upgrade(engine)
    load(engine, seed_bundle())
    engine.dispose()
    return url


def test_apps_on_one_database_share_a_key_no_one_configured(
    new_database: Callable[[], str],
) -> None:
    """Instances behind one load balancer take each other's cursors with nothing set: the
    first to need a key makes one and keeps it in the database."""
    url = fresh_database(new_database)
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert settings.cursor_secret is None
    with (
        TestClient(create_app(settings)) as one,
        TestClient(create_app(settings)) as other,
    ):
        first = one.get("/v1/indicators?limit=3").json()
        cursor = first["next_cursor"]
        second = other.get(f"/v1/indicators?limit=3&cursor={cursor}")
        assert second.status_code == 200, second.text
        assert one.get(f"/v1/indicators?limit=3&cursor={cursor}").json() == second.json()
        slugs = [item["slug"] for item in first["items"] + second.json()["items"]]
        assert len(set(slugs)) == 6
    engine = make_engine(url)
    with engine.connect() as connection:
        stored = connection.scalars(select(Secret.value)).all()
    engine.dispose()
    assert len(stored) == 1 and len(stored[0]) >= 32


def test_a_configured_secret_signs_instead_of_the_stored_one(
    new_database: Callable[[], str],
) -> None:
    url = fresh_database(new_database)
    mine = Settings(_env_file=None, database_url=url, cursor_secret="s3cret-" * 5)  # type: ignore[call-arg]
    stored = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    with TestClient(create_app(mine)) as one, TestClient(create_app(stored)) as other:
        cursor = one.get("/v1/indicators?limit=3").json()["next_cursor"]
        assert one.get(f"/v1/indicators?limit=3&cursor={cursor}").status_code == 200
        assert other.get(f"/v1/indicators?limit=3&cursor={cursor}").status_code == 400


def test_processes_starting_at_once_agree_on_one_key(new_database: Callable[[], str]) -> None:
    url = new_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    starters = 6
    barrier = threading.Barrier(starters)
    keys: list[str] = []

    def start() -> None:
        # An engine each, as a process has: its own connections, racing in the database.
        own = make_engine(url)
        barrier.wait()
        keys.append(cursor_secret(make_sessionmaker(own), None))
        own.dispose()

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == starters and len(set(keys)) == 1


def test_a_process_that_loses_the_race_takes_the_winners_key(
    new_database: Callable[[], str],
) -> None:
    """Another process stores its key between this one finding none and storing its own."""
    url = new_database()
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    opened = 0

    def sessions() -> Session:
        nonlocal opened
        opened += 1
        if opened == 2:  # this process found no key and is about to store one
            with factory() as other, other.begin():
                other.add(Secret(name="cursor", value="the winner's"))
        return factory()

    assert cursor_secret(sessions, None) == "the winner's"
    assert cursor_secret(factory, None) == "the winner's"
    engine.dispose()
