"""Targets meet their outcomes: the pairing of GET /v1/targets and the status rule of API.md."""

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.importer import load_bundle
from app.schemas import Bundle
from app.targets import half_unit, status


@pytest.mark.parametrize(
    ("target", "comparator", "text", "outcome", "better", "expected"),
    [
        # "about 5" is 4.5 to 5.5, ends included; beyond it on the good side is met too.
        (5.0, "approx", "about a 5 percent", 4.5, "higher", "met"),
        (5.0, "approx", "about a 5 percent", 5.5, "higher", "met"),
        (5.0, "approx", "about a 5 percent", 4.49, "higher", "missed"),
        (5.0, "approx", "about a 5 percent", 7.0, "higher", "met"),
        (5.0, "approx", "about a 5 percent", 7.0, "neutral", "missed"),
        (5.0, "approx", "about a 5 percent", 5.2, "neutral", "met"),
        # A ceiling: "around 5.5" is 5.45 to 5.55, and lower is better.
        (5.5, "approx", "around the 5.5 percent mark", 5.1, "lower", "met"),
        (5.5, "approx", "around the 5.5 percent mark", 5.45, "lower", "met"),
        (5.5, "approx", "around the 5.5 percent mark", 5.55, "lower", "met"),
        (5.5, "approx", "around the 5.5 percent mark", 5.56, "lower", "missed"),
        (5.5, "approx", "around the 5.5 percent mark", 5.2, "higher", "missed"),
        # The digit is read from the source's words, scaled to base units.
        (1e12, "approx", "about 1 trillion yuan", 1.4e12, "neutral", "met"),
        (1e12, "approx", "about 1 trillion yuan", 1.6e12, "neutral", "missed"),
        (12e6, "gt", "over 12 million urban jobs", 12_560_000, "higher", "met"),
        (12e6, "gt", "over 12 million urban jobs", 12_000_000, "higher", "missed"),
        (12e6, "gte", "at least 12 million", 12_000_000, "higher", "met"),
        (3.0, "lt", "below 3 percent", 3.0, "lower", "missed"),
        (3.0, "lte", "no more than 3 percent", 3.0, "lower", "met"),
        (1e12, "eq", "1 trillion yuan", 1e12, "neutral", "met"),
        (1e12, "eq", "1 trillion yuan", 0.9e12, "neutral", "missed"),
        # No number on either side, or no outcome: pending.
        (None, None, "launch an initiative", 1.0, "neutral", "pending"),
        (5.0, "approx", "about 5", None, "higher", "pending"),
    ],
)
def test_status_rule(target, comparator, text, outcome, better, expected) -> None:
    assert (
        status(
            target=target, comparator=comparator, value_text=text, outcome=outcome, better=better
        )
        == expected
    )


def test_half_unit_without_a_number_in_the_words() -> None:
    assert half_unit(12_000_000.0, "a dozen million") == 500_000
    assert half_unit(5.25, "a quarter past five") == Decimal("0.005")


ARTICLE_BODY = (
    "Statistics for 2024 were released. GDP grew 5.2 percent in 2024. "
    "The surveyed urban unemployment rate averaged 5.1 percent. "
    "Cities added 12.56 million jobs. "
    "Bond issuance reached 1 trillion yuan."
)


def outcomes_bundle(slug: str, published_at: str, gdp: float, unemployment: float) -> Bundle:
    def actual(indicator: str, value: float, unit: str, text: str, quote: str) -> dict:
        return {
            "indicator": indicator,
            "period": "2024",
            "kind": "actual",
            "value": value,
            "comparator": "eq",
            "unit": unit,
            "value_text": text,
            "evidence": {"article": slug, "quote": quote},
        }

    return Bundle.model_validate(
        {
            "articles": [
                {
                    "slug": slug,
                    "title": "China's 2024 statistics",
                    "published_at": published_at,
                    "body": ARTICLE_BODY,
                    "sectors": ["macroeconomy"],
                }
            ],
            "observations": [
                actual(
                    "chn-gdp-growth", gdp, "percent", "5.2 percent", "GDP grew 5.2 percent in 2024."
                ),
                actual(
                    "chn-urban-unemployment-rate",
                    unemployment,
                    "percent",
                    "5.1 percent",
                    "The surveyed urban unemployment rate averaged 5.1 percent.",
                ),
                actual(
                    "chn-new-urban-jobs",
                    12_560_000,
                    "jobs",
                    "12.56 million jobs",
                    "Cities added 12.56 million jobs.",
                ),
            ],
        }
    )


def by_indicator(client: TestClient, query: str) -> dict[str, dict]:
    response = client.get(f"/v1/targets?{query}")
    assert response.status_code == 200, response.text
    return {item["target"]["indicator"]: item for item in response.json()["items"]}


def test_seed_targets_are_pending_until_an_outcome_is_published(client: TestClient) -> None:
    targets = by_indicator(client, "period=2024&limit=100")
    assert set(targets) == {
        "chn-gdp-growth",
        "chn-ultra-long-special-treasury-bonds",
        "chn-new-urban-jobs",
        "chn-urban-unemployment-rate",
        "chn-artificial-intelligence-plus-initiative",
    }
    assert {t["status"] for t in targets.values()} == {"pending"}
    assert all(t["outcome"] is None for t in targets.values())


def test_a_later_article_answers_the_targets(client: TestClient, session: Session) -> None:
    load_bundle(session, outcomes_bundle("stats-2024", "2025-02-28T10:00:00+08:00", 5.2, 5.1))
    session.flush()
    targets = by_indicator(client, "period=2024&limit=100")
    assert targets["chn-gdp-growth"]["status"] == "met"
    assert targets["chn-gdp-growth"]["outcome"]["value"] == 5.2
    assert targets["chn-gdp-growth"]["outcome"]["evidence"]["article"] == "stats-2024"
    assert targets["chn-urban-unemployment-rate"]["status"] == "met"  # a ceiling, undershot
    assert targets["chn-new-urban-jobs"]["status"] == "met"
    assert targets["chn-ultra-long-special-treasury-bonds"]["status"] == "pending"
    assert targets["chn-artificial-intelligence-plus-initiative"]["status"] == "pending"


def test_the_most_recently_published_outcome_wins(client: TestClient, session: Session) -> None:
    load_bundle(session, outcomes_bundle("stats-early", "2025-01-17T10:00:00+08:00", 5.2, 5.1))
    load_bundle(session, outcomes_bundle("stats-revised", "2025-04-01T10:00:00+08:00", 4.3, 5.7))
    session.flush()
    targets = by_indicator(client, "period=2024&limit=100")
    assert targets["chn-gdp-growth"]["outcome"]["evidence"]["article"] == "stats-revised"
    assert targets["chn-gdp-growth"]["status"] == "missed"
    assert targets["chn-urban-unemployment-rate"]["status"] == "missed"


def test_targets_filter_by_indicator_and_sector(client: TestClient) -> None:
    assert set(by_indicator(client, "indicator=chn-gdp-growth")) == {"chn-gdp-growth"}
    assert set(by_indicator(client, "sector=employment")) == {
        "chn-new-urban-jobs",
        "chn-urban-unemployment-rate",
    }
    assert by_indicator(client, "sector=no-such-sector") == {}
    assert by_indicator(client, "period=2023") == {}


def test_the_rule_is_documented_in_the_schema(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/targets"]["get"]
    assert "half a unit" in operation["description"]
    assert "`better`" in operation["description"]
