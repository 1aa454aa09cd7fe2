"""Keys never reach the logs: a key sent in the query string is hidden in the access log."""

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.logs import redact_target
from tests.servers import serving

KEY = "pf_" + "Zx9-Q_r" * 6  # shaped like a key of `policyfacts keys create`


@pytest.mark.parametrize(
    ("target", "redacted"),
    [
        ("/v1/indicators?api_key=abc123&limit=2", "/v1/indicators?api_key=REDACTED&limit=2"),
        ("/v1/indicators?limit=2&key=abc", "/v1/indicators?limit=2&key=REDACTED"),
        (
            "/v1/x?API-KEY=abc&Token=t&access_token=a",
            "/v1/x?API-KEY=REDACTED&Token=REDACTED&access_token=REDACTED",
        ),
        ("/v1/x?api%5Fkey=abc", "/v1/x?api%5Fkey=REDACTED"),
        (
            "/v1/x?password=p&secret=s&auth=a",
            "/v1/x?password=REDACTED&secret=REDACTED&auth=REDACTED",
        ),
        (f"/v1/search?q={KEY}", "/v1/search?q=REDACTED"),
        (f"/v1/search?q=find+{KEY}+here&limit=1", "/v1/search?q=find+REDACTED+here&limit=1"),
        (f"/v1/{KEY}/x", "/v1/REDACTED/x"),
        (f"/v1/x?{KEY}", "/v1/x?REDACTED"),
        (f"/v1/x?q=pf%5F{KEY[3:]}", "/v1/x?q=REDACTED"),
        # Nothing else changes: names that merely contain a sensitive word, empty values.
        ("/v1/x?keyword=gdp&monkey=1&key=", "/v1/x?keyword=gdp&monkey=1&key="),
        ("/v1/indicators?limit=2&sort=-name", "/v1/indicators?limit=2&sort=-name"),
        ("/v1/indicators", "/v1/indicators"),
        ("/v1/x?pf_=1&q=pf_ab", "/v1/x?pf_=1&q=pf_ab"),
    ],
)
def test_redact_target_hides_keys_and_nothing_else(target: str, redacted: str) -> None:
    assert redact_target(target) == redacted


def test_the_access_log_of_serve_never_shows_a_key(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    """uvicorn logs the whole request target; a client that puts its key in the URL must
    not leave it in the log, in every worker process."""
    with serving(new_database(), tmp_path, workers=2) as base:
        sent = [
            f"{base}/v1/indicators?limit=1&api_key={KEY}",
            f"{base}/v1/indicators?key=hunter2-secret&limit=1",
            f"{base}/v1/search?q={KEY}",
        ]
        for url in sent * 3:  # the two workers share the requests between them
            assert httpx.get(url).status_code in (200, 422)
        port = base.rsplit(":", 1)[1]
        log = tmp_path / f"server-{port}.log"
        deadline = time.monotonic() + 10
        while log.read_text().count("/v1/") < len(sent) * 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        text = log.read_text()
    assert text.count("REDACTED") >= len(sent) * 3, text
    assert KEY not in text and KEY[3:] not in text and "hunter2-secret" not in text
    assert '"GET /v1/indicators?limit=1&api_key=REDACTED HTTP/1.1"' in text
