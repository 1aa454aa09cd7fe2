"""Limits and browsers: body size, CORS preflight and cross-origin reads."""

from collections.abc import Iterator

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth import create_key


def test_a_body_over_the_limit_is_413(client: TestClient, session: Session) -> None:
    key = create_key(session, name="big")
    session.flush()
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
    big = b'{"sectors": [], "pad": "' + b"x" * limit + b'"}'
    response = client.post(
        "/v1/imports",
        content=big,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_a_chunked_body_over_the_limit_is_413(client: TestClient, session: Session) -> None:
    key = create_key(session, name="chunky")
    session.flush()
    limit = client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]

    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = client.post(
        "/v1/imports",
        content=chunks(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_preflight_is_answered(client: TestClient) -> None:
    response = client.options(
        "/v1/indicators/chn-gdp-growth",
        headers={
            "Origin": "https://dashboard.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, if-match, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://dashboard.example")
    assert "PATCH" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "if-match" in allowed


def test_cross_origin_reads_expose_etag_and_link(client: TestClient) -> None:
    response = client.get("/v1/sectors?limit=2", headers={"Origin": "https://dashboard.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "etag" in exposed and "link" in exposed
