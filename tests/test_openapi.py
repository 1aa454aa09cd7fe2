"""The OpenAPI document is what SDK generators and readers of /docs get: it must be exact."""

import re

from fastapi.testclient import TestClient

OPERATIONS = {
    "list_articles", "get_article", "list_sectors", "get_sector", "list_indicators",
    "get_indicator", "list_indicator_observations", "list_observations", "get_observation",
    "list_targets", "search", "get_health", "get_readiness",
}


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_operation_has_a_snake_case_id_a_tag_and_a_summary(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert set(ids) == OPERATIONS
    for path, method, operation in operations(document):
        assert re.fullmatch(r"[a-z]+(?:_[a-z]+)*", operation["operationId"]), (path, method)
        assert operation["tags"], (path, method)
        assert operation["summary"] and operation.get("description"), (path, method)


def test_errors_are_documented_as_problem_json(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    for path, method, operation in operations(document):
        responses = operation["responses"]
        for status in ("422", "503") + (("404",) if "{" in path else ()):
            content = responses[status]["content"]
            assert list(content) == ["application/problem+json"], (path, method, status)
        ok = responses["200"]["content"]["application/json"]["schema"]
        assert "$ref" in ok, (path, method)


def test_reads_document_etag_304_and_csv(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, _, operation in operations(document):
        if path.startswith("/v1/"):
            assert "304" in operation["responses"]
            assert "ETag" in operation["responses"]["200"]["headers"]
    for path in ("/v1/observations", "/v1/indicators/{slug}/observations"):
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert "text/csv" in content


def test_the_observation_example_is_a_real_seed_observation(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    example = schemas["Observation"]["examples"][0]
    served = client.get(f"/v1/observations/{example['id']}").json()
    stamps = ("created_at", "updated_at")
    assert {k: v for k, v in served.items() if k not in stamps} == {
        k: v for k, v in example.items() if k not in stamps
    }


def test_docs_load_no_asset_from_the_internet(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)=["\']([^"\']+)', html)
        assert assets, page
        assert all(not a.startswith(("http:", "https:", "//")) for a in assets), assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
