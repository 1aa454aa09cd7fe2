"""JSON and CSV responses with strong ETags, 304s and Cache-Control."""

import hashlib
import logging
import re
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import anyio
import orjson
from fastapi import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Send

log = logging.getLogger("policyfacts")

_JSON = "application/json"
# A client that takes no byte of a stream for this long is let go: a stalled download must
# not hold a task, a socket and the server's buffers for ever.
STALL_SECONDS = 30.0


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


class StopStream(Exception):
    """A stream cannot go on (the data changed under it): it ends without its last chunk,
    so that the client sees an incomplete transfer rather than a whole one that is wrong."""


class Stream(StreamingResponse):
    """A streamed body that ends early, its transfer left incomplete, when the client stops
    reading for ``STALL_SECONDS`` or the body raises ``StopStream``; its generator is closed
    however the response ends (a client that hangs up, a HEAD), not left to the collector."""

    def __init__(
        self, chunks: AsyncGenerator[bytes, None], *, media_type: str, headers: Mapping[str, str]
    ) -> None:
        super().__init__(chunks, media_type=media_type, headers=headers)
        self.chunks = chunks

    async def stream_response(self, send: Send) -> None:
        async def patient_send(message: Message) -> None:
            with anyio.fail_after(STALL_SECONDS):
                await send(message)

        try:
            await super().stream_response(patient_send)
        except TimeoutError:
            log.info("a client took nothing for %.0f s: its stream is dropped", STALL_SECONDS)
        except StopStream as stopped:
            log.warning("a stream stopped short: %s", stopped)
        finally:
            with anyio.CancelScope(shield=True):
                await self.chunks.aclose()


def streaming_csv(
    request: Request,
    chunks: Callable[[], AsyncGenerator[bytes, None]],
    *,
    etag: str,
    filename: str,
) -> Response:
    """A streamed CSV whose ETag the caller derives from the data version and the query;
    ``chunks`` is called only when there is a body to send."""
    headers = {
        **_validators(request, etag),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Stream(chunks(), media_type="text/csv; charset=utf-8", headers=headers)
