"""Observations as CSV: every matching row, the JSON filters, values that parse back."""

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.importer import load_bundle
from app.schemas import Bundle

HEADER = [
    "id",
    "indicator",
    "period",
    "kind",
    "value",
    "comparator",
    "unit",
    "value_text",
    "article",
    "quote",
    "start",
    "end",
]
SEED_ARTICLE = "china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals"

# Sentences that a careless writer breaks: commas, an em dash, double quotes, a line break.
TRICKY = [
    "Bond sales, the ministry said, will reach 1 trillion yuan — the most on record.",
    'Officials called the 6.5 percent pace "steady, but not spectacular".',
    "The pilot zone opened in March, on time — and,\nto everyone's surprise, on budget.",
    "Output grew 0.3 percent in the quarter.",
]
CSV_BODY = "Opening paragraph. " + " ".join(TRICKY) + " Closing paragraph."


def figure(
    indicator: str,
    period: str,
    kind: str,
    value: float | None,
    comparator: str | None,
    unit: str | None,
    text: str,
    quote: str,
    article: str = "csv-article",
) -> dict:
    return {
        "indicator": indicator,
        "period": period,
        "kind": kind,
        "value": value,
        "comparator": comparator,
        "unit": unit,
        "value_text": text,
        "evidence": {"article": article, "quote": quote},
    }


def csv_bundle() -> Bundle:
    indicator = {"geography": "CHN", "frequency": "quarterly", "better": "higher"}
    return Bundle.model_validate(
        {
            "sectors": [{"slug": "csv-sector", "name": "CSV sector"}],
            "articles": [
                {
                    "slug": "csv-article",
                    "title": "Figures with punctuation",
                    "published_at": "2024-09-30T09:00:00+08:00",
                    "body": CSV_BODY,
                    "sectors": ["csv-sector"],
                }
            ],
            "indicators": [
                {
                    "slug": "csv-bonds",
                    "name": "Bond sales",
                    "unit": "CNY",
                    **indicator,
                    "sectors": ["csv-sector", "public-finance"],
                },
                {
                    "slug": "csv-pace",
                    "name": "Pace",
                    "unit": "percent",
                    **indicator,
                    "sectors": ["csv-sector"],
                },
            ],
            "observations": [
                figure(
                    "csv-bonds", "2024", "plan", 1e12, "eq", "CNY", "1 trillion yuan", TRICKY[0]
                ),
                figure(
                    "csv-bonds",
                    "2024-Q3",
                    "actual",
                    None,
                    None,
                    None,
                    "opened in March, on time",
                    TRICKY[2],
                ),
                figure(
                    "csv-pace",
                    "2024",
                    "target",
                    6.5,
                    "approx",
                    "percent",
                    'the 6.5 percent pace "steady, but not spectacular"',
                    TRICKY[1],
                ),
                figure(
                    "csv-pace", "2024-Q3", "actual", 0.3, "eq", "percent", "0.3 percent", TRICKY[3]
                ),
                figure(
                    "csv-pace",
                    "2024-07",
                    "forecast",
                    6.5,
                    "gte",
                    "percent",
                    "6.5 percent",
                    TRICKY[1],
                ),
            ],
        }
    )


@pytest.fixture
def loaded(session: Session) -> Session:
    load_bundle(session, csv_bundle())
    session.flush()
    return session


def get_csv(client: TestClient, url: str, **headers: str) -> list[dict[str, str]]:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.text)
    assert response.headers["content-type"].split(";")[0] == "text/csv", url
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    reader = csv.reader(io.StringIO(response.content.decode("utf-8"), newline=""))
    rows = list(reader)
    assert rows[0] == HEADER, rows[0]
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


def every_json(client: TestClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page_url = f"{url}{'&' if '?' in url else '?'}limit=1000"
        page = client.get(f"{page_url}&cursor={cursor}" if cursor else page_url)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            assert len(items) == page.json()["total"]
            return items


def as_csv_row(observation: dict[str, Any]) -> dict[str, str]:
    """What a CSV row holds for a JSON observation, compared as values, not text."""
    evidence = observation["evidence"]
    return {
        "id": str(observation["id"]),
        "indicator": observation["indicator"],
        "period": observation["period"],
        "kind": observation["kind"],
        "value": observation["value"],
        "comparator": observation["comparator"] or "",
        "unit": observation["unit"] or "",
        "value_text": observation["value_text"],
        "article": evidence["article"],
        "quote": evidence["quote"],
        "start": str(evidence["start"]),
        "end": str(evidence["end"]),
    }


def parsed(row: dict[str, str]) -> dict[str, Any]:
    return {**row, "value": None if row["value"] == "" else float(row["value"])}


def with_csv(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}format=csv"


FILTERED = [
    "/v1/observations",
    "/v1/observations?kind=actual",
    "/v1/observations?kind=target&kind=plan",
    "/v1/observations?period_from=2024-Q3",
    "/v1/observations?period_from=2024&period_to=2024",
    "/v1/observations?period_to=2023",
    "/v1/observations?period=2024",
    "/v1/observations?indicator=csv-pace",
    "/v1/observations?article=csv-article",
    f"/v1/observations?article={SEED_ARTICLE}&kind=actual",
    "/v1/observations?sector=csv-sector",
    "/v1/observations?sector=public-finance&period_from=2024",
    "/v1/observations?sort=-period",
    "/v1/observations?sort=-id&kind=actual",
    "/v1/observations?indicator=no-such-indicator",
    "/v1/indicators/csv-pace/observations",
    "/v1/indicators/csv-pace/observations?kind=actual&kind=forecast",
    "/v1/indicators/csv-pace/observations?period_from=2024-Q3&period_to=2024-Q3",
    "/v1/indicators/csv-bonds/observations?sort=-period",
    "/v1/indicators/chn-gdp-growth/observations?kind=plan",
]


@pytest.mark.parametrize("url", FILTERED)
def test_csv_holds_what_json_holds(client: TestClient, loaded: Session, url: str) -> None:
    expected = [as_csv_row(o) for o in every_json(client, url)]
    by_format = get_csv(client, with_csv(url))
    by_accept = get_csv(client, url, Accept="text/csv")
    assert by_accept == by_format
    # The same rows in the same order, each value parsing back to what the JSON says.
    assert [parsed(row) for row in by_format] == expected


def test_csv_is_every_row_not_a_page(client: TestClient, loaded: Session) -> None:
    total = client.get("/v1/observations").json()["total"]
    assert total > 3
    # limit and cursor shape JSON pages; CSV ignores them and streams everything.
    for url in ("/v1/observations?format=csv&limit=1", "/v1/observations?format=csv&limit=3"):
        assert len(get_csv(client, url)) == total
    many = [
        figure(
            "csv-pace",
            f"{year}-{month:02d}",
            "actual",
            float(month),
            "eq",
            "percent",
            "0.3 percent",
            TRICKY[3],
        )
        for year in range(1901, 2001)
        for month in range(1, 13)
    ]
    load_bundle(loaded, Bundle.model_validate({"observations": many}))
    loaded.flush()
    rows = get_csv(client, "/v1/indicators/csv-pace/observations?format=csv&limit=1")
    assert len(rows) == len(many) + 3 > 1000  # more than the longest page, in more than one batch
    assert len({row["id"] for row in rows}) == len(rows)
    assert [parsed(row) for row in rows] == [
        as_csv_row(o) for o in every_json(client, "/v1/indicators/csv-pace/observations")
    ]


def test_values_are_in_base_units(client: TestClient, loaded: Session) -> None:
    rows = {
        (r["indicator"], r["period"], r["kind"]): r
        for r in get_csv(client, "/v1/observations?format=csv")
    }
    bonds = rows[("csv-bonds", "2024", "plan")]
    assert bonds["value"] == "1000000000000" and bonds["unit"] == "CNY"
    seed_bonds = rows[("chn-ultra-long-special-treasury-bonds", "2024", "plan")]
    assert seed_bonds["value"] == "1000000000000"
    assert rows[("csv-pace", "2024", "target")]["value"] == "6.5"
    assert rows[("csv-pace", "2024-Q3", "actual")]["value"] == "0.3"
    assert rows[("chn-technology-contract-transactions-growth", "2023", "actual")]["value"] == (
        "28.6"
    )
    milestone = rows[("csv-bonds", "2024-Q3", "actual")]
    assert milestone["value"] == milestone["comparator"] == milestone["unit"] == ""
    assert milestone["value_text"] == "opened in March, on time"


def test_quotes_survive_and_point_into_the_body(client: TestClient, loaded: Session) -> None:
    rows = get_csv(client, "/v1/observations?format=csv")
    bodies = {
        slug: client.get(f"/v1/articles/{slug}").json()["body"]
        for slug in {row["article"] for row in rows}
    }
    for row in rows:
        assert bodies[row["article"]][int(row["start"]) : int(row["end"])] == row["quote"]
    quotes = {row["quote"] for row in rows}
    assert set(TRICKY) <= quotes
    assert 'the 6.5 percent pace "steady, but not spectacular"' in {r["value_text"] for r in rows}
    # The seed's own punctuation: its dateline's en dash and its commas.
    assert any("global uncertainty and challenges, China" in quote for quote in quotes)


def test_format_wins_over_accept(client: TestClient) -> None:
    for url in (
        "/v1/observations?format=json",
        "/v1/indicators/chn-gdp-growth/observations?format=json",
    ):
        response = client.get(url, headers={"Accept": "text/csv"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json()["items"]
    assert client.get("/v1/observations?format=xml").status_code == 422


def test_an_empty_csv_has_its_header(client: TestClient) -> None:
    response = client.get("/v1/observations?format=csv&kind=forecast&period=1999")
    assert response.status_code == 200
    assert response.content.decode() == ",".join(HEADER) + "\r\n"


def test_csv_of_an_unknown_indicator_is_404(client: TestClient) -> None:
    response = client.get("/v1/indicators/no-such-indicator/observations?format=csv")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "accept", ["text/csv;q=0, application/json", "application/json, text/csv;q=0.1"]
)
def test_accept_weights_are_honoured(client: TestClient, accept: str) -> None:
    response = client.get("/v1/observations", headers={"Accept": accept})
    assert response.headers["content-type"] == "application/json"


def test_cells_a_spreadsheet_would_run_are_escaped(client: TestClient, loaded: Session) -> None:
    """A source's words that start like a formula reach a spreadsheet as text (OWASP, CSV
    injection): a leading apostrophe. JSON keeps them as they are; numbers keep their sign."""
    words = ['=HYPERLINK("https://evil.example","x")', "+1 point", "-0.5 points", "@SUM(A1)"]
    risky = [
        figure("csv-pace", str(2030 + n), "actual", -0.5, "eq", "percent", text, TRICKY[3])
        for n, text in enumerate(words)
    ]
    load_bundle(loaded, Bundle.model_validate({"observations": risky}))
    loaded.flush()
    url = "/v1/indicators/csv-pace/observations?period_from=2030"
    rows = get_csv(client, with_csv(url))
    assert [row["value_text"] for row in rows] == ["'" + text for text in words]
    assert {row["value"] for row in rows} == {"-0.5"}
    assert [o["value_text"] for o in every_json(client, url)] == words
