"""JSON and CSV responses with strong ETags, 304s and Cache-Control."""

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response, StreamingResponse

_JSON = "application/json"


def etag_for(content: bytes) -> str:
    return '"' + hashlib.blake2b(content, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x".
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def cached(request: Request, content: bytes, *, media_type: str, etag: str,
           headers: Mapping[str, str] | None = None) -> Response:
    """``content`` with its validators, or a bodiless 304 when the client holds it already."""
    all_headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={request.app.state.settings.cache_max_age}",
        **(headers or {}),
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=all_headers)
    return Response(content, media_type=media_type, headers=all_headers)


def json_response(request: Request, payload: Any, *, headers: Mapping[str, str] | None = None
                  ) -> Response:
    """``payload`` as JSON; its ETag is a digest of the very bytes sent."""
    content = orjson.dumps(payload)
    return cached(request, content, media_type=_JSON, etag=etag_for(content), headers=headers)


def streaming_csv(request: Request, rows: Iterator[bytes], *, etag: str, filename: str
                  ) -> Response:
    """A streamed CSV whose ETag the caller derives from the data version and the query."""
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={request.app.state.settings.cache_max_age}",
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8", headers=headers)
