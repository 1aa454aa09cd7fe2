"""JSON and CSV responses with strong ETags, 304s and Cache-Control."""

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response, StreamingResponse

_JSON = "application/json"


def etag_for(content: bytes) -> str:
    # SHA-256 is OpenSSL's, with the processor's SHA instructions where it has them: twice
    # as fast as blake2b here, for a page of 100 observations (40 kB) 20 us a request.
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


# An entity-tag (RFC 9110 8.8.3): an optional weak prefix and a quoted string, which may hold
# commas; tags are separated by commas, and a list may hold empty elements (RFC 9110 5.6.1).
_ENTITY_TAG = re.compile(r'[\s,]*(?:W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def matches(if_none_match: list[str], etag: str) -> bool:
    """Whether ``If-None-Match`` (every field line of it) names ``etag`` or is ``*``.

    If-None-Match compares weakly (RFC 9110 13.1.2): ``W/"x"`` matches ``"x"``. A field that
    does not parse matches nothing, so the client gets the full answer, never a wrong 304.
    """
    for field in if_none_match:
        if field.strip() == "*":
            return True
        at = 0
        while at < len(field):
            found = _ENTITY_TAG.match(field, at)
            if found is None:
                break
            if found.group(1) == etag:
                return True
            at = found.end()
    return False


def _validators(request: Request, etag: str) -> dict[str, str]:
    """The headers that a 200 and its 304 share (RFC 9110 15.4.5)."""
    return {
        "ETag": etag,
        "Cache-Control": f"public, max-age={request.app.state.settings.cache_max_age}",
        # The observation lists answer CSV or JSON at the same URL by the Accept header: a
        # shared cache must not hand one client's format to another.
        "Vary": "Accept",
    }


def _not_modified(request: Request, etag: str) -> bool:
    # Only a GET or HEAD is answered 304; for other methods a match is the writer's business.
    return request.method in ("GET", "HEAD") and matches(
        request.headers.getlist("if-none-match"), etag
    )


def cached(
    request: Request,
    content: bytes,
    *,
    media_type: str,
    etag: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``content`` with its validators, or a bodiless 304 when the client holds it already."""
    all_headers = {**_validators(request, etag), **(headers or {})}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=all_headers)
    return Response(content, media_type=media_type, headers=all_headers)


def json_response(
    request: Request, payload: Any, *, headers: Mapping[str, str] | None = None
) -> Response:
    """``payload`` as JSON; its ETag is a digest of the very bytes sent."""
    content = orjson.dumps(payload)
    return cached(request, content, media_type=_JSON, etag=etag_for(content), headers=headers)


def streaming_csv(
    request: Request, rows: Callable[[], Iterator[bytes]], *, etag: str, filename: str
) -> Response:
    """A streamed CSV whose ETag the caller derives from the data version and the query.

    ``rows`` is called only when there is a body to send, and before the status is: a query
    that fails then fails as a problem, not as a stream cut short after a 200.
    """
    headers = {
        **_validators(request, etag),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)
