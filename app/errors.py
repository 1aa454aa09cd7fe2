"""One error family and the handlers that turn every failure into RFC 9457 problem+json."""

import logging
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount

log = logging.getLogger("policyfacts")

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """An error a client can act on; ``status`` and ``detail`` reach the client as they are."""

    status = 400
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class BadRequest(AppError):
    status = 400


class NotFound(AppError):
    status = 404


class Invalid(AppError):
    status = 422


class Conflict(AppError):
    status = 409


class PreconditionFailed(AppError):
    status = 412


class UnsupportedMediaType(AppError):
    status = 415


class PreconditionRequired(AppError):
    status = 428


class Unavailable(AppError):
    """The database did not answer in time: worth trying again shortly."""

    status = 503
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "1"}


def problem(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:  # a code outside the registry (RFC 9457: then the title is ours)
        title = "Client Error" if status < 500 else "Server Error"
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


def validation_errors(raw: Any) -> list[dict[str, Any]]:
    """Pydantic's errors, reduced to the documented ``{loc, msg, type}`` (no echo of input)."""
    return [
        {"loc": [part for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in raw
    ]


async def _app_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem(exc.status, exc.detail, errors=exc.errors, headers=exc.headers)


# The order methods are listed in ``Allow``.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """Every method the target resource answers, for ``Allow`` (RFC 9110 10.2.1).

    Starlette's 405 names the methods of the one route it tried, which is one of several on
    a path such as /v1/articles (GET, POST): each method is asked of the routes instead.
    HEAD is answered wherever GET is (the HeadAsGet middleware).
    """
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(1, "HEAD")
    return ", ".join(allowed)


def _unreadable_body(exc: StarletteHTTPException) -> Response | None:
    """FastAPI answers a body that ``json.loads`` fails on, other than by a syntax error,
    with a bare 400: bytes that are not UTF-8, or JSON nested deeper than the parser goes.
    Both are malformed JSON, the client's to fix like any other: a 422 that says where."""
    cause = exc.__cause__
    if exc.status_code != 400:
        return None
    if isinstance(cause, UnicodeDecodeError):
        detail = "The request body is not JSON: it is not valid UTF-8."
        loc: list[str | int] = ["body", cause.start]
    elif isinstance(cause, RecursionError):
        detail = "The request body is not JSON this server reads: it is nested too deeply."
        loc = ["body"]
    else:
        return None
    return problem(
        422, detail, errors=[{"loc": loc, "msg": "JSON decode error", "type": "json_invalid"}]
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    unreadable = _unreadable_body(exc)
    if unreadable is not None:
        return unreadable
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such resource or route."
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return problem(exc.status_code, detail, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:3])
    return problem(422, f"The request is not valid: {where}.", errors=errors)


# What PostgreSQL says when a transaction lost to another that ran beside it: a
# serialization failure or a deadlock (class 40: the transaction was rolled back), or a
# unique key or a foreign key that another writer's commit made false (23505, 23503).
_LOST_RACE = frozenset({"40001", "40P01", "23505", "23503"})


def lost_race(exc: BaseException) -> bool:
    """Whether ``exc`` means that another writer got there first, so that the same write,
    run again in a transaction that sees that writer's rows, would get its own answer.

    ``StaleDataError`` is the ORM's word for an update or delete by primary key that found
    no row: another writer deleted it after this one read it.
    """
    if isinstance(exc, StaleDataError):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _LOST_RACE


def unavailable() -> Response:
    """The answer to any request that needs a database that does not answer."""
    return problem(
        503, "The database is unavailable; try again shortly.", headers={"Retry-After": "1"}
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    if lost_race(exc):  # a deadlock is an OperationalError, but the database is up
        return await _lost_race(request, exc)
    log.error("database unavailable: %s", exc.__class__.__name__, exc_info=exc)
    return unavailable()


async def _busy(_request: Request, exc: Exception) -> Response:
    # Every connection of a pool was in use for the whole wait: the service is busy, not
    # broken, and says when to come back.
    log.warning("no database connection free: %s", exc)
    return problem(503, "The service is busy; try again shortly.", headers={"Retry-After": "1"})


async def _data_error(_request: Request, exc: Exception) -> Response:
    # The database refused a value as data (SQLSTATE class 22: a number out of its column's
    # range, a NUL in text, ...). Reads and writes only ever hand it what a client sent, so
    # that value is the client's to change: a 400, as PostgREST answers class 22. The place
    # that let it through should have refused it by name (a 404 or 422); it is logged so it
    # can be found, and the database's message is not sent, as it can quote the statement.
    log.warning("database refused a value: %s", exc.__class__.__name__, exc_info=exc)
    return problem(
        400,
        "A value in the request is outside what the database can store or compare "
        "(a number too large, or a NUL character in text).",
    )


async def _lost_race(_request: Request, exc: Exception) -> Response:
    # Two writers raced for the same slug, identity or row, and this one lost even when run
    # again (writes.retried): the loser gets what a later one would.
    log.info("lost a race: %s", exc)
    return problem(
        409,
        "That conflicts with what another request has just written; "
        "GET the resource and try again.",
    )


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return problem(500, "An unexpected error occurred; it has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(InterfaceError, _database_error)
    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(IntegrityError, _lost_race)
    app.add_exception_handler(StaleDataError, _lost_race)
    app.add_exception_handler(DataError, _data_error)
    # The database itself is unusable (SQLite: "file is not a database", "database disk
    # image is malformed"): the operator's to fix, as a lost server is. The subclasses that
    # mean something else keep their own handlers; a ProgrammingError is our statement's
    # mistake, not the database's state, and stays a 500.
    app.add_exception_handler(DatabaseError, _database_error)
    app.add_exception_handler(ProgrammingError, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
