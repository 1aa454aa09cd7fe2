"""Keyset pagination: opaque signed cursors, exact totals and ``Link`` headers.

A cursor holds the sort key and id of the last item of a page, the sort, and a fingerprint of
the filters it was issued for; it is signed, so that a truncated or altered cursor, or one
issued for another query, is a 400 and never reaches the database. What a cursor holds is
checked too (``_load``), so that a cursor forged with a leaked key is a 400 as well.

The key is ``POLICYFACTS_CURSOR_SECRET`` when set; otherwise one made at random by the first
instance that needs it and kept in the database, which every instance on it then shares.
"""

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import anyio
import orjson
from fastapi import Query, Request
from sqlalchemy import Connection, Double, Integer, bindparam, cast, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.datastructures import URL
from starlette.responses import Response

from app.db import (
    READ_ARGUMENTS,
    WRITE_OPTION,
    AnySelect,
    Column,
    before_a_long_statement,
    reading,
)
from app.errors import BadRequest, Invalid
from app.models import DataVersion, Secret
from app.prepared import Prepared
from app.queries import data_version
from app.responses import StopStream, json_response

KeyType = Literal["str", "int", "float", "date", "datetime"]


@dataclass(frozen=True)
class SortKey:
    """A public sort name and the expression it orders by."""

    column: Column
    type: KeyType


@dataclass(frozen=True)
class Sort:
    name: str
    key: SortKey
    descending: bool


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int
    next_cursor: str | None


def parse_sort(value: str, keys: Mapping[str, SortKey]) -> Sort:
    """``name`` or ``-name`` from the endpoint's documented keys; anything else is a 422."""
    name = value.removeprefix("-")
    if name not in keys:
        allowed = ", ".join(f"{k}, -{k}" for k in keys)
        raise Invalid(
            f"Cannot sort by {value!r}; use one of: {allowed}.",
            errors=[{"loc": ["query", "sort"], "msg": f"must be one of {allowed}", "type": "enum"}],
        )
    return Sort(name=value, key=keys[name], descending=value.startswith("-"))


def choose_sort(
    value: str | None, keys: Mapping[str, SortKey], *, default: str, relevance: SortKey | None
) -> Sort:
    """The sort asked for; else best match first while searching; else the default."""
    if value is not None:
        return parse_sort(value, keys)
    if relevance is not None:
        return Sort(name="relevance", key=relevance, descending=False)
    return parse_sort(default, keys)


def sort_query(keys: Iterable[str]) -> Any:
    """The ``sort`` parameter of a list: its names are an enum in the document, so clients and
    generated SDKs know them; choose_sort checks the value and answers the 422 naming them."""
    names = [name for key in keys for name in (key, f"-{key}")]

    def document(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):
            if branch.get("type") == "string":
                branch["enum"] = names

    return Query(max_length=100, json_schema_extra=document)


def sort_description(keys: Iterable[str], default: str) -> str:
    names = ", ".join(f"`{k}`" for k in keys)
    return f"Sort by {names}; prefix `-` for descending. Default `{default}`."


# Arguments of a list that shape its pages, not the query they page through.
_PAGE_ARGUMENTS = frozenset({"request", "limit", "cursor", "sort", "format"})


def query_of(request: Request) -> str:
    """The fingerprint of the list a request reads: its route and every argument of it
    that filters (``app.db.reads`` keeps them). Derived from the route's own arguments, so
    that a filter cannot be left out, where two queries that differ only by it would share
    a cached page statement, a total and cursors."""
    name, arguments = request.scope[READ_ARGUMENTS]
    return route_query(name, arguments)


def route_query(name: str, arguments: Mapping[str, Any]) -> str:
    """The fingerprint of the list the route ``name`` reads with ``arguments``."""
    filters = {k: v for k, v in arguments.items() if k not in _PAGE_ARGUMENTS}
    return fingerprint({"route": name, **filters})


def fingerprint(filters: Mapping[str, Any]) -> str:
    """A short digest of the filters a cursor belongs to."""
    canonical = orjson.dumps(
        {k: v for k, v in filters.items() if v is not None},
        default=str,
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


CURSOR_SECRET = "cursor"  # its name in the secrets table


def cursor_secret(sessions: Callable[[], Session], configured: str | None) -> str:
    """The key that signs cursors: ``configured`` if given, else the one in the database.

    With none there yet, this process makes one and stores it if no other process has in
    the meantime; either way the stored one is read back, so processes that start at once
    on the same database all end with the same key.
    """
    if configured:
        return configured
    find = select(Secret.value).where(Secret.name == CURSOR_SECRET)
    with sessions() as session:
        stored = session.scalar(find)
    if stored is not None:
        return stored
    try:
        with sessions() as session, session.begin():
            session.connection(execution_options={WRITE_OPTION: True})
            session.add(Secret(name=CURSOR_SECRET, value=secrets.token_urlsafe(32)))
    except IntegrityError:
        pass  # another process stored its key first: that one is everyone's
    with sessions() as session:
        return session.scalars(find).one()


class Cursors:
    """Signs and reads cursors with the service's cursor secret.

    ``secret`` may be a function that finds it, called on the first cursor (and again until
    it succeeds): the app is made before the database may answer, and a database that is
    down must be a 503 then, not an app that failed to start.
    """

    def __init__(self, secret: str | Callable[[], str]) -> None:
        self._secret = secret
        self._key = secret.encode() if isinstance(secret, str) else None

    def _sign(self, payload: bytes) -> bytes:
        key = self._key
        if key is None:
            assert callable(self._secret)
            before_a_long_statement()  # it may wait for the database: not on the event loop
            key = self._key = self._secret().encode()
        return hmac.new(key, payload, hashlib.sha256).digest()[:12]

    def encode(self, *, sort: Sort, query: str, last: Sequence[Any]) -> str:
        values = [_dump(v) for v in last]
        payload = orjson.dumps({"s": sort.name, "q": query, "k": values})
        return _b64(payload) + "." + _b64(self._sign(payload))

    def decode(self, cursor: str, *, sort: Sort, query: str, types: Sequence[KeyType]) -> list[Any]:
        try:
            data, _, tag = cursor.partition(".")
            payload = _unb64(data)
            if not hmac.compare_digest(_unb64(tag), self._sign(payload)):
                raise ValueError("signature")
            decoded = orjson.loads(payload)
            if decoded["s"] != sort.name or decoded["q"] != query:
                raise ValueError("issued for another query")
            values = decoded["k"]
            if not isinstance(values, list) or len(values) != len(types):
                raise ValueError("shape")
            return [_load(v, t) for v, t in zip(values, types, strict=True)]
        except (
            ValueError,
            KeyError,
            TypeError,
            OverflowError,
            binascii.Error,
            orjson.JSONDecodeError,
        ) as exc:
            raise BadRequest(
                "The cursor is not one this server issued for this query; start again without it."
            ) from exc


class Totals:
    """Exact totals, counted once per query and data version, not on every page.

    A count over a million rows costs milliseconds; the data version read with the page
    (``page_version``) says whether the one counted before still holds.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self.counts: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], threading.Lock] = {}

    def count(self, db: Connection, statement: AnySelect, *, query: str, version: int) -> int:
        key = (query, version)
        total = self.counts.get(key)
        if total is not None:
            return total
        before_a_long_statement()
        # One count per key at a time: requests that arrive while it runs (a cold worker
        # under load, or the first ones after a write) wait for it instead of each counting.
        with self._lock:
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            total = self.counts.get(key)
            if total is None:
                total = self.counts[key] = self._count(db, statement)
                if len(self.counts) > self.max_entries:
                    self.counts.popitem(last=False)
        with self._lock:
            self._pending.pop(key, None)
        return total

    @staticmethod
    def _count(db: Connection, statement: AnySelect) -> int:
        counting = select(func.count()).select_from(statement.order_by(None).subquery())
        return db.scalar(counting) or 0


@dataclass(frozen=True)
class Listing:
    """What a list pages through: its statement (any columns, filters applied), the sort,
    and a unique column that breaks ties."""

    statement: AnySelect
    sort: Sort
    tiebreak: Column


class PageStatements:
    """Each query's page statement, built and compiled once: a page costs SQLite less than
    building and compiling it costs SQLAlchemy (app.prepared). Keyed by the query (its
    filters' fingerprint), the sort asked for, and whether the page follows a cursor."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple[str, str | None, bool], tuple[Listing, Prepared]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(
        self, key: tuple[str, str | None, bool], listing: Callable[[str], Listing], dialect: str
    ) -> tuple[Listing, Prepared]:
        found = self.entries.get(key)
        if found is not None:
            return found
        built = listing(dialect)
        made = (built, Prepared(_page_statement(built, after=key[2])))
        with self._lock:
            self.entries[key] = made
            if len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return made


# The data version, on every row of a page: read in the page's own statement, it spares a
# round trip to PostgreSQL (a sixth of a list's time in the client), and it is the version
# of the very snapshot that the page was read in.
_VERSION = select(DataVersion.version).where(DataVersion.id == 1).scalar_subquery()


def _page_version(db: Connection, rows: list[Any]) -> int:
    """The data version a page was read at: on its rows, or (an empty page carries none)
    read on its own; 0 before the first write."""
    return (rows[0].page_version or 0) if rows else data_version(db)


def _page_statement(listing: Listing, *, after: bool) -> AnySelect:
    """The statement of one page: ``listing`` in its order, from the bound ``after_key`` and
    ``after_id`` on when ``after``, at most ``limit`` rows. Pages are found by comparing the
    sort key and the tiebreak, never by OFFSET, so the last page costs what the first does."""
    sort = listing.sort
    key, tiebreak = _comparable(sort.key), listing.tiebreak
    keyed = listing.statement.add_columns(
        key.label("page_key"), tiebreak.label("page_id"), _VERSION.label("page_version")
    )
    if after:
        position = tuple_(key, tiebreak)
        bound = tuple_(bindparam("after_key", type_=key.type), bindparam("after_id", type_=Integer))
        keyed = keyed.where(position < bound if sort.descending else position > bound)
    if sort.descending:
        keyed = keyed.order_by(key.desc(), tiebreak.desc())
    else:
        keyed = keyed.order_by(key.asc(), tiebreak.asc())
    return keyed.limit(bindparam("limit", type_=Integer))


def paginate(
    request: Request,
    db: Connection,
    listing: Callable[[str], Listing],
    *,
    sort: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """One page of what ``listing`` makes, after ``cursor``, with the exact total.

    ``listing`` is called, with the name of the database's dialect, only for a query not met
    before (``query_of``); ``sort`` is the value the client sent (``listing`` checks it).
    The cursor codec, the totals and the page statements are the app's (``create_app``).
    """
    query = query_of(request)
    state = request.app.state
    cursors: Cursors = state.cursors
    totals: Totals = state.totals
    pages: PageStatements = state.pages
    built, statement = pages.get((query, sort, cursor is not None), listing, db.dialect.name)
    params: dict[str, Any] = {"limit": limit + 1}
    if cursor is not None:
        types: tuple[KeyType, KeyType] = (built.sort.key.type, "int")
        after_key, after_id = cursors.decode(cursor, sort=built.sort, query=query, types=types)
        params |= {"after_key": after_key, "after_id": after_id}
    rows = statement.all(db, **params)
    version = _page_version(db, rows)
    total = totals.count(db, built.statement, query=query, version=version)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        tail = rows[-1]
        next_cursor = cursors.encode(
            sort=built.sort, query=query, last=(tail.page_key, tail.page_id)
        )
    return Page(rows=rows, total=total, next_cursor=next_cursor)


@dataclass(frozen=True)
class Scan:
    """Every row of a listing, in its order, a batch at a time (``scan``)."""

    request: Request
    after: Prepared  # the listing's page statement from a cursor on
    first: list[Any]  # the first batch, read in the request's own read
    version: int  # the data version of the first batch
    batch: int

    async def batches(self) -> AsyncIterator[list[Any]]:
        """The first batch, then each next one read from where the last ended, on a worker
        thread and a connection taken for that read alone: a client that reads slowly, or
        not at all, holds no connection between batches. Should the data change meanwhile,
        ``StopStream``: the rows would no longer be those of one version of the data."""
        rows = self.first
        yield rows
        while len(rows) == self.batch:
            tail = rows[-1]
            rows = await anyio.to_thread.run_sync(
                self._read, tail.page_key, tail.page_id, limiter=self.request.app.state.read_threads
            )
            if rows and rows[0].page_version != self.version:
                raise StopStream(f"the data changed from version {self.version} while it streamed")
            yield rows

    def _read(self, after_key: Any, after_id: int) -> list[Any]:
        with reading(self.request) as db:
            return self.after.all(db, after_key=after_key, after_id=after_id, limit=self.batch)


def scan(
    request: Request,
    db: Connection,
    listing: Callable[[str], Listing],
    *,
    sort: str | None,
    batch: int,
) -> Scan:
    """Every row of what ``listing`` makes (as ``paginate`` pages it), the first batch read
    now, on ``db``: a query that fails, fails before a response has begun."""
    query = query_of(request)
    pages: PageStatements = request.app.state.pages
    dialect = db.dialect.name
    _, first = pages.get((query, sort, False), listing, dialect)
    _, after = pages.get((query, sort, True), listing, dialect)
    rows = first.all(db, limit=batch)
    version = _page_version(db, rows)
    return Scan(request=request, after=after, first=rows, version=version, batch=batch)


def _comparable(key: SortKey) -> Column:
    """The sort expression as the page is ordered by, compared on and keeps in its cursor.

    A float key is read in double precision: PostgreSQL sends a ``real`` (``ts_rank``'s type)
    as its shortest decimal, which is not the stored value, so a cursor holding that decimal
    falls beside the row it came from and the next page loses or repeats rows that tie.
    """
    if key.type == "float":
        return cast(key.column, Double())
    return key.column


def next_link(url: URL, next_cursor: str | None) -> dict[str, str]:
    """The ``Link`` header for the next page, if there is one: a target relative to the
    request's (RFC 8288 3.1), never built from its ``Host``, which the client chooses and
    which a shared cache would then hand to every other client."""
    if next_cursor is None:
        return {}
    target = URL(path=url.path, query=url.include_query_params(cursor=next_cursor).query)
    return {"Link": f'<{target}>; rel="next"'}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    # The decoder skips padding and characters outside the alphabet; a cursor is only what
    # this server writes, so any other spelling of the same bytes is an altered cursor.
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not a cursor this server wrote")
    return raw


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


# What a key a cursor holds may be: what the columns hold. Integer keys are ids, 32-bit
# Integer columns (on SQLite the ids stay in that range too: they count rows); past 64 bits
# an integer was a 500 on SQLite (the driver's OverflowError), past 32 a 400 on PostgreSQL
# only once the database refused it. The rest could never come from a row either, and is
# refused before it reaches the database.
_INT_RANGE = range(-(2**31), 2**31)
_MAX_TEXT = 1000  # longer than any sortable text column (titles: 500)


def _load(value: Any, type_: KeyType) -> Any:
    if type_ == "datetime" and isinstance(value, str) and len(value) <= 40:
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is None:
            raise ValueError("an instant without its offset")
        return instant
    if type_ == "date" and isinstance(value, str) and len(value) <= 10:
        return date.fromisoformat(value)
    if type_ == "int" and isinstance(value, int) and not isinstance(value, bool):
        if value not in _INT_RANGE:
            raise ValueError("an integer out of range")
        return value
    if type_ == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return number
    if type_ == "str" and isinstance(value, str):
        if len(value) > _MAX_TEXT or "\x00" in value:
            raise ValueError("not text of a column")
        return value
    raise ValueError(f"cursor value of the wrong type for {type_}")


Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page, 1 to 1000.")]
CursorParam = Annotated[
    str | None,
    Query(max_length=2000, description="Opaque: the `next_cursor` of the previous page."),
]
SearchText = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="Full text: items containing every word, in any order, stemmed; "
        "best match first unless `sort` is given. Any text is read as plain words.",
    ),
]


def page_response(request: Request, page: Page, items: list[dict[str, Any]]) -> Response:
    """The list envelope of API.md, with its ``Link`` header."""
    body = {"items": items, "total": page.total, "next_cursor": page.next_cursor}
    return json_response(request, body, headers=next_link(request.url, page.next_cursor))
