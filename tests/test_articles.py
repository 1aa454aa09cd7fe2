"""Article filters: publication dates read as whole days, timestamps as instants."""

import pytest
from fastapi.testclient import TestClient

ARTICLE = "china-ushers-in-era-of-technological-prowess-and-thriving-tech-deals"


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("published_to=2024-03-05", True),  # a date is the whole day
        ("published_to=2024-03-04", False),
        ("published_from=2024-03-05", True),
        ("published_from=2024-03-06", False),
        ("published_to=2024-03-05T08:20:00%2B08:00", False),  # a minute before it
        ("published_to=2024-03-05T08:21:00%2B08:00", True),  # the very instant
        ("published_from=2024-03-05T00:22:00Z", False),
        # Midnight with an offset is that instant, not the date: pydantic read these as the
        # whole day of 2024-03-05, dropping the +08:00 (16:00 UTC the day before).
        ("published_to=2024-03-05T00:00:00%2B08:00", False),
        ("published_from=2024-03-06T00:00:00%2B08:00", False),
        ("published_from=2024-03-05T00:00:00-08:00", False),
    ],
)
def test_publication_filters(client: TestClient, query: str, found: bool) -> None:
    slugs = [a["slug"] for a in client.get(f"/v1/articles?{query}").json()["items"]]
    assert (ARTICLE in slugs) is found
