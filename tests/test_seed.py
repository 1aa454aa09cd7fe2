"""The seed: every figure of the article, with evidence that points at its sentence."""

import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.cli import seed_bundle
from app.db import make_engine
from app.importer import load_bundle, load_seed
from app.models import Indicator, Observation, Sector
from app.schemas import SectorCreate
from tests.servers import run

ARTICLE = "china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals"

# What an analyst reads in the article: (indicator, period, kind, value, comparator, unit).
FACTS = {
    ("chn-technology-contract-transactions-growth", "2023", "actual", 28.6, "eq", "percent"),
    ("chn-gdp-growth", "2024", "target", 5.0, "approx", "percent"),
    ("chn-ultra-long-special-treasury-bonds", "2024", "plan", 1e12, "eq", "CNY"),
    ("chn-per-capita-disposable-income-growth", "2023", "actual", 6.1, "eq", "percent"),
    ("chn-special-additional-deduction-taxpayers", "2023", "actual", 66e6, "gt", "persons"),
    ("chn-new-urban-jobs", "2024", "target", 12e6, "gt", "jobs"),
    ("chn-urban-unemployment-rate", "2024", "target", 5.5, "approx", "percent"),
    ("chn-renewable-capacity-exceeds-thermal", "2023", "actual", None, None, None),
    ("chn-share-of-global-new-renewable-capacity", "2023", "actual", 50.0, "gt", "percent"),
    ("chn-artificial-intelligence-plus-initiative", "2024", "plan", None, None, None),
}


def all_items(client: TestClient, url: str) -> list[dict]:
    items, next_url = [], url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        next_url = f"{url}{'&' if '?' in url else '?'}cursor={cursor}" if cursor else None
    return items


def test_article_fields_come_from_the_page(client: TestClient, article_text: str) -> None:
    article = client.get(f"/v1/articles/{ARTICLE}").json()
    assert (
        article["title"] == "China Ushers in Era of Technological Prowess and Thriving Tech Deals"
    )
    assert article["subtitle"] == (
        "China's Commitment to Innovation Yields Significant Growth in Tech Transactions"
    )
    assert article["author"] == "Leo Gonzalez"
    assert article["section"] == "Science and Technology"
    assert article["dateline"] == "BEIJING, March 5, 2024"
    assert article["published_at"] == "2024-03-05T00:21:00+00:00"  # 08:21 in Beijing
    # The body runs from the first paragraph to the last, without the page around it.
    assert article["body"].startswith("BEIJING, March 5, 2024 – In a year marked")
    assert article["body"].endswith("amidst a fast-evolving global landscape.")
    assert article_text.endswith(article["body"])
    for chrome in ("Breaking News", "Leo Gonzalez", "08:21 am", article["title"]):
        assert chrome not in article["body"]
    assert article["observation_count"] == len(FACTS)


def test_every_figure_is_served_with_its_sentence(client: TestClient) -> None:
    body = client.get(f"/v1/articles/{ARTICLE}").json()["body"]
    observations = all_items(client, f"/v1/observations?article={ARTICLE}&limit=3")
    served = {
        (o["indicator"], o["period"], o["kind"], o["value"], o["comparator"], o["unit"])
        for o in observations
    }
    assert served == FACTS
    for observation in observations:
        evidence = observation["evidence"]
        assert body[evidence["start"] : evidence["end"]] == evidence["quote"]
        # The quote is a whole sentence that holds the source's own words.
        assert observation["value_text"] in evidence["quote"]
        assert evidence["quote"][0].isupper() and evidence["quote"].endswith(".")
        before = body[: evidence["start"]].rstrip(" ")
        assert before == "BEIJING, March 5, 2024 –" or before.endswith((".", "\n"))


def test_every_number_in_the_article_is_accounted_for(client: TestClient) -> None:
    body = client.get(f"/v1/articles/{ARTICLE}").json()["body"]
    observations = all_items(client, "/v1/observations?limit=1000")
    quoted = " ".join(o["value_text"] for o in observations)
    # Dates and the name of the congress session are not figures of an indicator.
    not_figures = {"5", "2024", "14th", "2023"}
    numbers = set(re.findall(r"\d+(?:\.\d+)?(?:th)?", body)) - not_figures
    assert numbers <= set(re.findall(r"\d+(?:\.\d+)?", quoted)), numbers


def test_each_figure_is_found_by_searching_indicators(client: TestClient) -> None:
    searches = {
        "technology transactions": "chn-technology-contract-transactions-growth",
        "GDP growth": "chn-gdp-growth",
        "treasury bonds": "chn-ultra-long-special-treasury-bonds",
        "disposable income": "chn-per-capita-disposable-income-growth",
        "taxpayers deductions": "chn-special-additional-deduction-taxpayers",
        "urban jobs": "chn-new-urban-jobs",
        "unemployment": "chn-urban-unemployment-rate",
        "renewable thermal": "chn-renewable-capacity-exceeds-thermal",
        "renewable capacity share": "chn-share-of-global-new-renewable-capacity",
        "artificial intelligence": "chn-artificial-intelligence-plus-initiative",
    }
    for q, slug in searches.items():
        found = client.get("/v1/indicators", params={"q": q}).json()["items"]
        assert slug in [i["slug"] for i in found], q
        observations = client.get(f"/v1/indicators/{slug}/observations").json()["items"]
        assert observations, slug


def test_indicators_are_described(client: TestClient) -> None:
    for indicator in all_items(client, "/v1/indicators?limit=1000"):
        assert indicator["name"] and indicator["description"]
        assert indicator["geography"] == "CHN" and indicator["frequency"] == "annual"
        assert indicator["sectors"], indicator["slug"]


def test_named_sectors_are_linked(client: TestClient) -> None:
    sectors = {s["slug"]: s for s in all_items(client, "/v1/sectors?limit=1000")}
    for named in (
        "hydrogen-power",
        "new-materials",
        "biomanufacturing",
        "commercial-space",
        "quantum-technology",
        "life-sciences",
        "intelligent-connected-vehicles",
        "digital-economy",
        "renewable-energy",
        "thermal-power",
    ):
        assert sectors[named]["article_count"] == 1
    article = client.get(f"/v1/articles/{ARTICLE}").json()
    assert set(article["sectors"]) == set(sectors)
    assert sectors["employment"]["indicator_count"] == 2


def test_loading_the_seed_twice_changes_nothing(client: TestClient, session: Session) -> None:
    before = client.get("/v1/observations?limit=1000").json()
    result = load_bundle(session, seed_bundle())
    session.flush()
    assert result.observations.created == 0 and result.observations.updated == 0
    assert result.articles.unchanged == 1
    assert client.get("/v1/observations?limit=1000").json() == before


def test_seeding_again_undoes_no_curators_work(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    """A curator renames an indicator, deletes an observation and a sector; `policyfacts
    seed` run again (by hand, or by a deployment on every start) leaves all three so."""
    url = new_database()
    assert run(url, "seed", cwd=tmp_path).returncode == 0
    engine = make_engine(url)
    gdp = Indicator.slug == "chn-gdp-growth"
    jobs = select(Indicator.id).where(Indicator.slug == "chn-new-urban-jobs").scalar_subquery()
    with Session(engine) as session, session.begin():
        session.execute(update(Indicator).where(gdp).values(name="Real GDP growth"))
        session.execute(delete(Observation).where(Observation.indicator_id == jobs))
        session.execute(delete(Sector).where(Sector.slug == "thermal-power"))
    again = run(url, "seed", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "observations: 0 created, 0 updated, 10 unchanged" in again.stdout
    with Session(engine) as session:
        assert session.scalar(select(Indicator.name).where(gdp)) == "Real GDP growth"
        assert (
            session.scalar(select(Observation.id).where(Observation.indicator_id == jobs)) is None
        )
        assert session.scalar(select(Sector.id).where(Sector.slug == "thermal-power")) is None
    engine.dispose()


def test_a_newer_seed_adds_only_what_is_new(session: Session) -> None:
    bundle = seed_bundle()
    bundle.sectors.append(SectorCreate(slug="steel", name="Steel"))
    result = load_seed(session, bundle)
    assert (result.sectors.created, result.sectors.updated) == (1, 0)
    assert result.sectors.unchanged == len(bundle.sectors) - 1
    assert result.observations.unchanged == len(bundle.observations)
    assert load_seed(session, bundle).sectors.created == 0
