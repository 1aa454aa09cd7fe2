"""A response cache in front of the framework: repeated GETs are answered from memory,
before routing, validation and the database, while the data is unchanged.

Freshness: every committed write bumps the ``data_version`` row (app.importer.bump_version).
A process reads that row when a cached answer is asked for and its last reading is older
than ``poll_seconds`` (half a second by default), and serves an answer from the cache only
if it was made at the version last read. So a write made by another process is served
within ``poll_seconds``, inside the one second API.md promises; the process that made the
write drops its cache at once. A 304 from the cache is only ever for the ETag of the very
answer the cache would send.

A database that stops answering (a hung server, a lost route) must not hang the requests
that wait for the version: they wait ``WAIT_SECONDS`` at most, then get a 503. Not the
cached answer: past the poll interval the cache cannot know it is still current, and serving
it longer would break the one-second promise for as long as the database is gone.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import unavailable
from app.responses import matches

MAX_ENTRY_BYTES = 1 << 20
# The longest a request waits for the data version: one row by its key, read in well under
# a millisecond, tens of milliseconds under load; 2 s leaves the 503 inside 3 s.
WAIT_SECONDS = 2.0
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Key = tuple[str, bytes, bytes, bytes]  # path, query string, and the Accept and Origin fields


@dataclass(frozen=True, slots=True)
class Entry:
    version: int
    etag: str
    headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]
    body: bytes


class ResponseCache:
    """ASGI middleware: the cached answer to a GET (or HEAD) of ``/v1/...``, or the app's,
    stored. It goes outermost, so it keeps what the client was sent, CORS headers included;
    the key holds every request field those answers vary on (``Accept``, ``Origin``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        read_version: Callable[[], int],
        max_bytes: int,
        poll_seconds: float,
    ) -> None:
        self.app = app
        self.read_version = read_version
        self.max_bytes = max_bytes
        self.poll_seconds = poll_seconds
        self.entries: OrderedDict[Key, Entry] = OrderedDict()
        self.size = 0
        self.version = -1  # -1: unknown (never read, or the database did not answer)
        self.read_at = float("-inf")
        self.reading: asyncio.Task[None] | None = None  # the one reading under way
        self.reading_since = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in WRITES:
            # A write must not start on a database that has gone silent: nothing could
            # answer it in time, and it cannot be given up once begun. So it waits for a
            # reading of the data version made now, as long as a GET would wait for one.
            if not await self.refresh(now=True):
                await unavailable()(scope, receive, send)
                return
            await self.app(scope, receive, self.clearing(send))
            return
        method = scope["method"]
        if method not in ("GET", "HEAD") or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if not await self.refresh():
            await unavailable()(scope, receive, send)
            return
        key = (
            scope["path"],
            scope["query_string"],
            _header(scope, b"accept"),
            _header(scope, b"origin"),
        )
        entry = self.entries.get(key)
        if entry is not None and entry.version == self.version >= 0:
            self.entries.move_to_end(key)
            await self.send_entry(scope, send, entry, body=method == "GET")
            return
        if method == "HEAD":  # no body to keep
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self.storing(send, key, self.version))

    async def refresh(self, *, now: bool = False) -> bool:
        """Read the data version when the last reading is older than ``poll_seconds`` (or,
        ``now``, whatever its age); False when the database has not answered for
        ``WAIT_SECONDS``.

        One reading at a time, in a task that the requests wait for: a request that gives up
        leaves it running (a thread blocked on a socket cannot be stopped), and the requests
        after it wait only for what is left of its ``WAIT_SECONDS``, so a database that does
        not answer holds one thread, not one per request."""
        if not now and time.monotonic() - self.read_at < self.poll_seconds:
            return True
        if self.reading is None:
            self.reading_since = time.monotonic()
            self.reading = asyncio.create_task(self.read())
        left = self.reading_since + WAIT_SECONDS - time.monotonic()
        try:
            await asyncio.wait_for(asyncio.shield(self.reading), max(left, 0))
        except TimeoutError:
            self.clear()
            self.version = -1
            return False
        return True

    async def read(self) -> None:
        started = time.monotonic()
        try:
            version = await asyncio.to_thread(self.read_version)
        except Exception:
            version = -1  # no answer: serve nothing from the cache until there is one
        finally:
            self.reading = None
        if version != self.version:
            self.clear()
            self.version = version
        self.read_at = started

    def clear(self) -> None:
        self.entries.clear()
        self.size = 0
        self.read_at = float("-inf")

    async def send_entry(self, scope: Scope, send: Send, entry: Entry, *, body: bool) -> None:
        if matches(_header_lines(scope, b"if-none-match"), entry.etag):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": entry.not_modified_headers,
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": entry.body if body else b""})

    def clearing(self, send: Send) -> Send:
        """``send``, forgetting every answer when a write succeeds: this process has just
        changed the data, and serves the change at once. A refused write (401, 405, 422...)
        changed nothing, and leaves the cache as it was."""

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                self.clear()
            await send(message)

        return watch

    def storing(self, send: Send, key: Key, version: int) -> Send:
        """``send``, keeping a copy of a whole 200 JSON answer with an ETag."""
        status = 0
        headers: list[tuple[bytes, bytes]] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                # A copy, as they were sent: the server may add to the list it was given.
                status, headers = message["status"], list(message.get("headers", []))
            elif (
                message["type"] == "http.response.body"
                and status == 200
                and not message.get("more_body", False)
                and version >= 0
            ):
                self.store(key, version, headers, message.get("body", b""))
            await send(message)

        return capture

    def store(
        self, key: Key, version: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        fields = dict(headers)
        etag = fields.get(b"etag")
        if etag is None or not fields.get(b"content-type", b"").startswith(b"application/json"):
            return
        if len(body) > MAX_ENTRY_BYTES or version != self.version:
            return
        entry = Entry(
            version=version,
            etag=etag.decode("latin-1"),
            headers=list(headers),
            not_modified_headers=[(k, v) for k, v in headers if _kept_in_304(k)],
            body=body,
        )
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self.entries[key] = entry
        self.size += len(body)
        while self.size > self.max_bytes and self.entries:
            _, evicted = self.entries.popitem(last=False)
            self.size -= len(evicted.body)


def _kept_in_304(name: bytes) -> bool:
    """The fields a 304 repeats from its 200 (RFC 9110 15.4.5), and CORS's, as the app's own
    304 has them: a browser checks CORS on the 304 of a cross-origin revalidation too."""
    return name in (b"etag", b"cache-control", b"vary") or name.startswith(b"access-control-")


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


def _header_lines(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope["headers"] if k == name]
