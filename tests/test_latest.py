"""An indicator's ``latest``: its newest actual and its newest target or plan, newest by
period, then by the most recently published article, on the list and the detail alike."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth import create_key


@pytest.fixture
def auth(session: Session) -> dict[str, str]:
    key = create_key(session, name="latest")
    session.flush()
    return {"Authorization": f"Bearer {key}"}


def gdp_growth(client: TestClient, auth: dict[str, str], **observation: Any) -> None:
    """Imports an article of its own, published on the day ``published``, stating one
    figure of chn-gdp-growth."""
    published = observation.pop("published")
    published_at = f"{published}T09:00:00+08:00"
    slug = f"gdp-{observation['kind']}-{observation['period']}-{published}"
    body = f"The economy grew {observation['value']} percent in {observation['period']}."
    bundle = {
        "articles": [{"slug": slug, "title": body, "published_at": published_at, "body": body}],
        "observations": [
            {
                "indicator": "chn-gdp-growth",
                "comparator": "eq",
                "unit": "percent",
                "value_text": f"{observation['value']} percent",
                "evidence": {"article": slug, "quote": body},
                **observation,
            }
        ],
    }
    response = client.post("/v1/imports", json=bundle, headers=auth)
    assert response.status_code == 200, response.text


def latest(client: TestClient, slug: str = "chn-gdp-growth") -> dict[str, Any]:
    """``latest`` as the detail shows it, checked against the list's."""
    detail = client.get(f"/v1/indicators/{slug}").json()["latest"]
    listed = {
        i["slug"]: i["latest"] for i in client.get("/v1/indicators?limit=100").json()["items"]
    }
    assert listed[slug] == detail
    return detail


def brief(observation: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if observation is None:
        return None
    return (observation["period"], observation["kind"], observation["value"])


def test_the_seed_has_a_latest_for_each_role(client: TestClient) -> None:
    assert brief(latest(client)["actual"]) is None
    assert brief(latest(client)["target"]) == ("2024", "target", 5.0)
    income = latest(client, "chn-per-capita-disposable-income-growth")
    assert (brief(income["actual"]), income["target"]) == (("2023", "actual", 6.1), None)
    bonds = latest(client, "chn-ultra-long-special-treasury-bonds")
    assert brief(bonds["target"]) == ("2024", "plan", 1e12)  # a plan is a target's role


def test_each_indicator_of_a_page_has_its_own(client: TestClient) -> None:
    for item in client.get("/v1/indicators?limit=100").json()["items"]:
        for observation in item["latest"].values():
            if observation is not None:
                assert observation["indicator"] == item["slug"]


def test_a_newer_period_is_the_latest(client: TestClient, auth: dict[str, str]) -> None:
    gdp_growth(client, auth, period="2022", kind="actual", value=3.0, published="2025-06-01")
    assert brief(latest(client)["actual"]) == ("2022", "actual", 3.0)
    gdp_growth(client, auth, period="2024", kind="actual", value=5.0, published="2025-01-17")
    assert brief(latest(client)["actual"]) == ("2024", "actual", 5.0)  # though published first
    gdp_growth(client, auth, period="2025", kind="plan", value=5.0, published="2025-03-05")
    assert brief(latest(client)["target"]) == ("2025", "plan", 5.0)
    assert brief(latest(client)["actual"]) == ("2024", "actual", 5.0)


def test_within_a_period_the_article_published_last_wins(
    client: TestClient, auth: dict[str, str]
) -> None:
    gdp_growth(client, auth, period="2024", kind="actual", value=5.2, published="2025-01-17")
    gdp_growth(client, auth, period="2024", kind="actual", value=5.0, published="2025-01-10")
    assert brief(latest(client)["actual"]) == ("2024", "actual", 5.2)  # imported first
    gdp_growth(client, auth, period="2024", kind="actual", value=5.3, published="2025-02-01")
    assert brief(latest(client)["actual"]) == ("2024", "actual", 5.3)
