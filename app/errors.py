"""One error family and the handlers that turn every failure into RFC 9457 problem+json."""

import logging
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

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


class Unavailable(AppError):
    status = 503


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


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such resource or route."
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:3])
    return problem(422, f"The request is not valid: {where}.", errors=errors)


async def _database_error(_request: Request, exc: Exception) -> Response:
    log.error("database unavailable: %s", exc.__class__.__name__, exc_info=exc)
    return problem(
        503, "The database is unavailable; try again shortly.", headers={"Retry-After": "1"}
    )


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


async def _integrity_error(_request: Request, exc: Exception) -> Response:
    # Two writers raced for the same slug or identity; the loser gets what a later one would.
    log.info("integrity error: %s", exc)
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
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected)
