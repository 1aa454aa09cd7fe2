"""Engine, session factory, the session of a write, the connection of a read (`reads`,
`reading`, `read_connections`), and statements sent straight to the driver's cursor
(`run_on_cursor`)."""

import functools
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, ParamSpec, TypeAlias

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy import ColumnElement, Connection, Engine, Row, Select, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.pool import NullPool
from starlette.responses import Response

from app import fast
from app.errors import Unavailable

# Statements and rows of any columns, and anything usable as a column in a query.
AnySelect: TypeAlias = Select[*tuple[Any, ...]]
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
Column: TypeAlias = ColumnElement[Any] | InstrumentedAttribute[Any]


P = ParamSpec("P")
ReadConnections: TypeAlias = Callable[[], AbstractContextManager[Connection]]

WRITE_OPTION = "policyfacts_writes"
# Seconds a request waits for a connection of a full pool before it is answered 503: a
# client is better told to come back than kept waiting while the queue behind it grows.
POOL_TIMEOUT = 5.0


def make_engine(
    url: str, *, pool_size: int = 5, bulk_load: bool = False, pooled: bool = True
) -> Engine:
    """An engine with the settings each backend needs to behave the same way; with
    ``bulk_load``, for a process that loads a large bundle (``policyfacts import``); not
    ``pooled`` (SQLite), one that opens a connection whenever asked, never waiting for one."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        pool: dict[str, Any] = {}  # an in-memory database keeps SQLAlchemy's own pool
        if not pooled:
            pool = {"poolclass": NullPool}
        elif database and database != ":memory:":
            pool = {"pool_size": pool_size, "max_overflow": 2 * pool_size}
            pool["pool_timeout"] = POOL_TIMEOUT
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        path = engine.url.database
        if path and path != ":memory:" and not engine.url.query.get("uri"):
            watched = SQLiteFile(os.path.abspath(path))
            watched.watch(engine)
        else:
            watched = None
        # One listener of "begin" for both: each listener more is a dispatch on every read.
        event.listen(engine, "begin", functools.partial(_sqlite_begin, file=watched))
        if bulk_load:
            event.listen(engine, "connect", _sqlite_bulk_load)
        return engine
    # No statement timeout for writes: an import of a large bundle runs as long as it runs.
    return create_engine(
        url, pool_pre_ping=True, **_postgresql_pool(pool_size, statement_timeout_ms=0)
    )


# A read is a few indexed statements: the slowest p99 measured under wrk was 78 ms (search,
# README). A statement that runs 2 s is one stuck behind a lock or a server in trouble: it
# is cancelled (a 503) rather than holding one of the pool's few connections, and a thread.
READ_STATEMENT_TIMEOUT_MS = 2000


def _postgresql_pool(
    pool_size: int, *, statement_timeout_ms: int = READ_STATEMENT_TIMEOUT_MS
) -> dict[str, Any]:
    """The pool's settings; by default a read's (``read_connections``), whose statements
    are cut after ``statement_timeout_ms`` by the server itself."""
    return {
        "pool_size": pool_size,
        "max_overflow": pool_size,
        # The connection used last is handed out first: under light load the same few serve,
        # with their prepared statements warm, and the rest stay idle for a server or proxy
        # to close.
        "pool_use_lifo": True,
        "pool_timeout": POOL_TIMEOUT,
        "connect_args": {
            "connect_timeout": 3,
            # A server that vanished (host down, route lost) is found without waiting for
            # the kernel's two hours: an idle connection is probed after 10 s and dropped
            # after 3 unanswered probes 3 s apart, one whose data is not acknowledged within
            # 5 s is dropped at once. Neither helps when the server's host still
            # acknowledges but nothing answers: the callers' bounded waits cover that.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 3,
            "keepalives_count": 3,
            "tcp_user_timeout": 5000,
            "options": f"-c statement_timeout={statement_timeout_ms}",
        },
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own BEGIN handling breaks SAVEPOINT and transactional DDL: turn it off and
    # begin transactions ourselves (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


READ_CHECK_SECONDS = 0.25  # how stale a read's view of its SQLite file may be (SQLiteFile)


class SQLiteFile:
    """The database file an engine's connections have open, checked at the start of their
    transactions to be the one at its path still.

    A file deleted (or replaced) under a running server stays open in its connections:
    writes would be committed into a file no one will open again, and answered 201. So a
    connection whose file is no longer the one at the path (another device and inode, or
    none) is invalidated, and its transaction refused as a lost connection (503) until a
    file is back there; the new connection opens that one. Once one connection was made,
    the next open the file read-write only (``mode=rw``): SQLite would make a missing file,
    and serve an empty database in the middle of serving. One ``stat`` per write, and per
    connection once a ``READ_CHECK_SECONDS`` for reads (``check``, from ``_sqlite_begin``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.opened = False

    def watch(self, engine: Engine) -> None:
        event.listen(engine, "do_connect", self._connecting)
        event.listen(engine, "connect", self._connected)

    def _identity(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        return status.st_dev, status.st_ino

    def _connecting(self, _dialect: Any, _record: Any, cargs: list[Any], cparams: Any) -> None:
        if self.opened:
            cargs[0] = f"file:{urllib.parse.quote(self.path)}?mode=rw"
            cparams["uri"] = True

    def _connected(self, _dbapi_connection: Any, record: Any) -> None:
        record.info["file"] = self._identity()
        self.opened = True

    def check(self, connection: Connection, *, writes: bool) -> None:
        """At the start of each transaction (``_sqlite_begin``)."""
        info = connection.connection.info
        opened = info.get("file")
        now = time.monotonic()
        # A read from a file deleted a moment ago serves what was written before: the path
        # is looked at once a READ_CHECK_SECONDS per connection, not for each read (a stat
        # was 5 us of a 150 us read). A write always looks.
        recent = now - info.get("checked_at", -READ_CHECK_SECONDS) < READ_CHECK_SECONDS
        if opened is not None and recent and not writes:
            return
        if opened is not None and self._identity() == opened:
            info["checked_at"] = now
            return
        error = sqlite3.OperationalError(f"the database file {self.path} is gone or replaced")
        connection.invalidate(error)
        raise OperationalError("BEGIN", (), error, connection_invalidated=True)


def _sqlite_bulk_load(dbapi_connection: Any, _record: Any) -> None:
    # A page cache of 64 MiB instead of 2: the pages of the observations' seven indexes stay
    # in memory while a load inserts into them, instead of being read again. 100,000
    # observations loaded in 10% less time, at 50 MB more peak memory (170 MB in all).
    dbapi_connection.execute("PRAGMA cache_size=-65536")


def _sqlite_begin(connection: Connection, *, file: "SQLiteFile | None") -> None:
    # A writer takes the write lock when it begins: concurrent writers then queue on the
    # busy timeout instead of failing when a read lock cannot be upgraded. On the cursor:
    # every read begins, and exec_driver_sql costs several times what SQLite takes to begin.
    writes = bool(connection.get_execution_options().get(WRITE_OPTION))
    if file is not None:
        file.check(connection, writes=writes)
    sql = "BEGIN IMMEDIATE" if writes else "BEGIN"
    if on_cursor(connection):
        run_on_cursor(connection, sql, ())
    else:
        connection.exec_driver_sql(sql)


def on_cursor(connection: Connection) -> bool:
    """Whether statements may go straight to the DBAPI cursor (``run_on_cursor``): on the
    fast path (``app.fast``), and while nothing listens to the connection's cursor events
    and nothing echoes its statements. Tracers (OpenTelemetry's instrumentation), echo and
    loggers get every statement from SQLAlchemy's own execution instead, with the execution
    context they expect, at SQLAlchemy's cost. Only the cursor events are looked at: each
    look costs about a microsecond, on reads that take 20; a listener of ``before_execute``
    alone (the Core statement) does not hear the hot statements. Within a read, decided
    once (``_ON_CURSOR``)."""
    known = _ON_CURSOR.get()
    if known is not None and known[0] is connection:
        return known[1]
    dispatch = connection.dispatch
    return (
        fast.enabled()
        and not connection._echo
        and not dispatch.before_cursor_execute
        and not dispatch.after_cursor_execute
    )


# The answer of ``on_cursor`` for the connection of the read under way (``reading``): the
# look at the listeners costs 5 us under SQLAlchemy's dispatch, and a detail has three
# statements. A listener added meanwhile (a tracer set up) is heard from the next read on.
_ON_CURSOR: ContextVar[tuple[Connection, bool] | None] = ContextVar(
    "policyfacts_on_cursor", default=None
)


def run_on_cursor(
    connection: Connection, sql: str, arguments: Any, *, many: bool = False, describe: bool = False
) -> tuple[list[Any], Any]:
    """``sql`` on the connection's DBAPI cursor, inside its transaction (``executemany`` of
    a list of ``arguments`` when ``many``), where ``on_cursor`` allows, with what
    SQLAlchemy's own execution does that matters then: a driver error is raised as
    SQLAlchemy's (a lost connection is invalidated, so that the pool does not hand it out
    again). The rows, and with ``describe`` the cursor's description (psycopg makes it anew
    on each call: a tenth of a PostgreSQL detail's time in the client)."""
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, arguments)
            return [], None
        cursor.execute(sql, arguments)
        return list(cursor.fetchall()), cursor.description if describe else None
    except dialect.loaded_dbapi.Error as error:
        lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(
            sql,
            arguments,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=dialect,
        ) from error
    finally:
        cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def writing(request: Request) -> Iterator[Session]:
    """The session of one write: committed once on success, rolled back on error."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            session.connection(execution_options={WRITE_OPTION: True})
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


def get_session(request: Request) -> Iterator[Session]:
    """One session per request (``writing``), as a dependency."""
    with writing(request) as session:
        yield session


# scope="function": the commit runs before the response is sent, so a client never hears of
# a write that has not been committed (the default scope would commit after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def reads(endpoint: Callable[P, Response]) -> Callable[P, Coroutine[None, None, Response]]:
    """Makes ``endpoint``, a plain function that only reads, a GET route that runs it where
    reads are cheapest on the database at hand.

    On SQLite, inline on the event loop: a read is a few indexed statements on a local file
    (keyset pages; totals counted once per data version), and costs less than the hop to a
    worker thread and back, which under load was most of a request's time. On PostgreSQL,
    in worker threads: there a read waits on the network for each statement, and threads
    let those waits overlap instead of stalling every other request. At most as many
    threads as the pool has connections (``app.state.read_threads``): under wrk, 40 threads
    sharing 5 connections answered a third fewer lists than 5 threads, at 3 times the p99.

    A read about to run a statement that can take long (a count over many rows) calls
    ``before_a_long_statement``: on the event loop, that starts the read over on a thread, so
    that one cold count does not hold up every other request.
    """

    @functools.wraps(endpoint)
    async def route(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        assert isinstance(request, Request)
        request.scope[READ_ARGUMENTS] = (endpoint.__name__, kwargs)
        read = functools.partial(_once_more_if_disconnected, endpoint, *args, **kwargs)
        limiter = request.app.state.read_threads
        if request.app.state.reads_inline:
            inline = _INLINE.set(True)
            try:
                return read()
            except LongRead:
                pass  # a read changes nothing: it starts over on a thread
            finally:
                _INLINE.reset(inline)
            return await anyio.to_thread.run_sync(read, limiter=limiter)
        # A server that stops answering leaves the thread waiting on its socket: the request
        # is answered all the same, and the thread left to its fate (a read changes nothing).
        with anyio.move_on_after(READ_DEADLINE):
            return await anyio.to_thread.run_sync(read, limiter=limiter, abandon_on_cancel=True)
        raise Unavailable("The database did not answer in time; try again shortly.")

    return route


# The name and the arguments of the read a request runs (``reads``): a list's filters are
# every argument of its route, so that none can be left out of its query's fingerprint
# (app.pagination.query_of).
READ_ARGUMENTS = "policyfacts.read_arguments"

# Seconds a read on PostgreSQL may take before its client is answered 503: the server cuts
# a statement after 2 s (READ_STATEMENT_TIMEOUT_MS), but not one it never receives.
READ_DEADLINE = 2.5

# Set while a read runs inline on the event loop (``reads``).
_INLINE: ContextVar[bool] = ContextVar("policyfacts_read_inline", default=False)


class LongRead(Exception):
    """A read on the event loop came to a statement that can take long (``reads``)."""


def before_a_long_statement() -> None:
    """To be called before a statement that can take long, such as a count over a million
    rows (78 to 166 ms at 300,000): a read on the event loop then goes to a worker thread,
    where it blocks nothing else, and starts over there."""
    if _INLINE.get():
        raise LongRead


def _once_more_if_disconnected(
    endpoint: Callable[P, Response], *args: P.args, **kwargs: P.kwargs
) -> Response:
    """``endpoint``, and once more if its connection turned out to be lost: PostgreSQL's
    read pool does not ping a connection before handing it out (``read_connections``), so a
    read can be the first to find the server restarted. SQLAlchemy then discards every
    connection of the pool made before, and a read changes nothing, so it can start over."""
    try:
        return endpoint(*args, **kwargs)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return endpoint(*args, **kwargs)


def read_connections(engine: Engine, *, pool_size: int = 5) -> ReadConnections:
    """How a read gets its connection, without a session (a session costs more to open and
    close than SQLite takes to answer a lookup).

    On SQLite in a transaction, so that the statements of one read see one snapshot, on a
    connection of its own kept open from one read to the next: not from ``engine``'s pool,
    which writes share, so that a read never waits for a connection (on the event loop, a
    wait would hold up every request). On PostgreSQL from a
    pool of reads' own, of ``pool_size`` connections that stay in autocommit: at READ
    COMMITTED each statement of a transaction takes a snapshot of its own anyway, so BEGIN
    and ROLLBACK would be two round trips that buy nothing. That pool does not ping a
    connection before handing it out (``engine``'s does, for writes): the ping and switching
    autocommit on and off were a fifth of the client's work in a detail; a read that finds
    its connection lost starts over (``reads``).
    """
    if engine.dialect.name != "sqlite":
        pool = create_engine(
            engine.url, isolation_level="AUTOCOMMIT", **_postgresql_pool(pool_size)
        )
        return pool.connect

    # Connections kept open between reads, in no transaction: taking one from the pool and
    # giving it back (a Connection made, the pool's events and reset) cost 35 of the 45 us
    # that a read spent on its connection, a tenth of a detail. One kept for each read that
    # ran at the same time: one or two on the event loop, and one a reads' thread.
    idle: list[Connection] = []
    opener = make_engine(engine.url.render_as_string(hide_password=False), pooled=False)

    @contextmanager
    def in_a_transaction() -> Iterator[Connection]:
        try:
            connection = idle.pop()
        except IndexError:
            connection = opener.connect()
        decided = _ON_CURSOR.set((connection, on_cursor(connection)))  # for BEGIN too
        try:
            transaction = connection.begin()
        except BaseException:
            _ON_CURSOR.reset(decided)
            raise
        try:
            yield connection
        finally:
            _ON_CURSOR.reset(decided)
            try:
                transaction.rollback()  # nothing is written
            except BaseException:
                connection.close()
                raise
            if connection.invalidated:
                connection.close()
            else:
                idle.append(connection)

    return in_a_transaction


@contextmanager
def reading(request: Request) -> Iterator[Connection]:
    """The connection of one GET (see ``reads``), from the app's ``read_connections``. Not
    a dependency: FastAPI's machinery for one that cleans up cost more than the reads."""
    connections: ReadConnections = request.app.state.read_connections
    with connections() as connection:
        known = _ON_CURSOR.get()
        if known is not None and known[0] is connection:  # decided at BEGIN (SQLite)
            yield connection
            return
        decided = _ON_CURSOR.set((connection, on_cursor(connection)))
        try:
            yield connection
        finally:
            _ON_CURSOR.reset(decided)
