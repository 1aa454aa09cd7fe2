"""The OpenAPI document is what SDK generators and readers of /docs get: it must be exact."""

import re

from fastapi.testclient import TestClient

OPERATIONS = {
    "list_articles",
    "get_article",
    "list_sectors",
    "get_sector",
    "list_indicators",
    "get_indicator",
    "list_indicator_observations",
    "list_observations",
    "get_observation",
    "list_targets",
    "search",
    "get_health",
    "get_readiness",
    "create_article",
    "update_article",
    "delete_article",
    "create_sector",
    "update_sector",
    "delete_sector",
    "create_indicator",
    "update_indicator",
    "delete_indicator",
    "create_indicator_observation",
    "update_observation",
    "delete_observation",
    "create_import",
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
        expected = {"503"} if path.startswith("/v1/") else set()
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add("422")
        if "{" in path:
            expected.add("404")
        if method != "get":
            expected.add("401")
        assert expected <= set(responses), (path, method)
        for status, response in responses.items():
            if status >= "400":
                content = response["content"]
                assert list(content) == ["application/problem+json"], (path, method, status)
        success = next(r for s, r in responses.items() if s.startswith("2"))
        if method != "delete":
            assert "$ref" in success["content"]["application/json"]["schema"], (path, method)


def test_reads_document_etag_and_csv(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, method, operation in operations(document):
        if path.startswith("/v1/") and method == "get":
            assert (
                "If-None-Match" in operation["responses"]["200"]["headers"]["ETag"]["description"]
            )
            assert operation["security"] == []
    for path in ("/v1/observations", "/v1/indicators/{slug}/observations"):
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert "text/csv" in content


def test_writes_need_the_bearer_key(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["ApiKey"]["description"],
    }
    for path, method, operation in operations(document):
        if method != "get":
            assert operation["security"] == [{"ApiKey": []}], (path, method)


def test_sort_names_are_an_enum(client: TestClient) -> None:
    """Any string was documented, and all but a few are a 422 (schemathesis's
    positive_data_acceptance found it): the names are listed, as API.md says they are."""
    document = client.get("/openapi.json").json()
    expected = {
        "/v1/articles": ["published_at", "title", "slug"],
        "/v1/sectors": ["slug", "name"],
        "/v1/indicators": ["slug", "name"],
        "/v1/indicators/{slug}/observations": ["period", "id"],
        "/v1/observations": ["period", "id"],
        "/v1/targets": ["period", "id"],
    }
    for path, names in expected.items():
        (sort,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "sort"]
        (string,) = [s for s in sort["schema"]["anyOf"] if s["type"] == "string"]
        assert string["enum"] == [n for name in names for n in (name, f"-{name}")], path
        for name in string["enum"]:
            assert client.get(f"{path.replace('{slug}', 'chn-gdp-growth')}?sort={name}").is_success


def test_conditional_requests_are_documented(client: TestClient) -> None:
    """If-None-Match and its 304 (API.md), If-Match on a PATCH (whose absence is a 428, not
    the 422 of a missing parameter), and the headers every answer carries."""
    document = client.get("/openapi.json").json()
    for path, method, operation in operations(document):
        responses = operation["responses"]
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if method == "get" and path.startswith("/v1/"):
            assert headers["If-None-Match"]["required"] is False, path
            assert set(responses["304"]["headers"]) == {"ETag", "Cache-Control"}, path
            assert "content" not in responses["304"], path
            assert responses["200"]["headers"]["ETag"]["required"] is True, path
        if method == "patch":
            assert headers["If-Match"]["required"] is True, path
            assert responses["200"]["headers"]["ETag"]["required"] is True, path
        if method == "post" and "201" in responses:
            assert set(responses["201"]["headers"]) == {"Location", "ETag"}, path
        if method != "get":
            assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True, path
    assert client.get("/v1/sectors", headers={"If-None-Match": "*"}).status_code == 304


def test_patches_take_merge_patch_json(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for _, method, operation in operations(document):
        if method == "patch":
            content = operation["requestBody"]["content"]
            assert {"application/merge-patch+json", "application/json"} <= set(content)


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
