"""API keys: created by the CLI, shown once, stored as hashes, checked in constant time."""

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, ClassVar

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.cache import WRITES
from app.db import ReadConnections
from app.errors import AppError, log, problem, unavailable
from app.models import ApiKey, utcnow

KEY_PREFIX = "pf_"
_LOOKUP = 12  # characters of the key stored in clear to find its row
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class Unauthorized(AppError):
    status = 401
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


NAME_LENGTH = 100  # the column's
# Control and format characters, and line and paragraph separators: in a name they would
# break the one line per key of `keys list`, or make one name look like another.
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a key, or None if it can."""
    if not name.strip():
        return "a key's name must not be blank"
    if name != name.strip():
        return "a key's name must not start or end with spaces"
    if len(name) > NAME_LENGTH:
        return f"a key's name must be at most {NAME_LENGTH} characters"
    if any(unicodedata.category(char) in _UNPRINTABLE for char in name):
        return "a key's name must not hold control characters (tabs, newlines, escapes)"
    return None


def live_key_named(session: Session, *, name: str) -> bool:
    found = session.scalar(
        select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    )
    return found is not None


def create_key(session: Session, *, name: str) -> str:
    """A new random key for ``name``; the caller shows it once, only its hash is kept.

    A revoked key's name may be given again; a live key's may not (the database refuses a
    second live key of one name, so two processes racing for it cannot both have it)."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=key[:_LOOKUP], key_hash=_hash(key)))
    return key


def revoke_key(session: Session, *, name: str) -> bool:
    row = session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
    if row is None:
        return False
    row.revoked_at = utcnow()
    return True


def list_keys(session: Session) -> list[tuple[str, datetime, datetime | None]]:
    rows = session.execute(
        select(ApiKey.name, ApiKey.created_at, ApiKey.revoked_at).order_by(
            ApiKey.name, ApiKey.created_at, ApiKey.id
        )
    )
    return [(name, created, revoked) for name, created, revoked in rows]


def key_name(db: Connection | Session, key: str) -> str | None:
    """The name of the live key ``key``, or None; the hash comparison takes the same time
    either way."""
    candidates: list[tuple[str | None, str]] = [
        (name, stored)
        for name, stored in db.execute(
            select(ApiKey.name, ApiKey.key_hash).where(
                ApiKey.prefix == key[:_LOOKUP], ApiKey.revoked_at.is_(None)
            )
        )
    ]
    given = _hash(key)
    found = None
    for name, stored in candidates or [(None, _DUMMY_HASH)]:
        if hmac.compare_digest(given, stored):
            found = name
    return found


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A key from `policyfacts keys create NAME`, sent as `Authorization: Bearer <key>`.",
)

# Where KeyFirst leaves the name of the key a write was made with.
KEY_NAME = "policyfacts.key_name"
_MISSING = "This request writes: send `Authorization: Bearer <api key>`."
_INVALID = "The API key is not valid, or has been revoked."


async def require_key(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Writes need a live key: a missing, wrong or revoked one is a 401 and changes nothing.

    ``KeyFirst`` checks it before the body is read; this dependency declares the scheme
    (the OpenAPI document, generated SDKs) and refuses a write that KeyFirst did not pass.
    """
    if KEY_NAME not in request.scope:
        raise Unauthorized(_MISSING)


WriteKey = Depends(require_key)


class KeyFirst:
    """ASGI middleware: a write to a route that needs a key (``WriteKey``) is answered 401
    at once when the key is missing, wrong or revoked, before its body is read: a client
    without a key cannot make the server take, buffer and parse megabytes it will refuse.
    The key is looked up on a worker thread, on a read's connection."""

    def __init__(self, app: ASGIApp, *, api: FastAPI, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.api = api
        self.guarded = [
            route
            for route in routes
            if isinstance(route, APIRoute)
            and any(d.dependency is require_key for d in route.dependencies)
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES or not self._guarded(scope):
            await self.app(scope, receive, send)
            return
        credentials = await _bearer(Request(scope))
        key = credentials.credentials if credentials is not None else None
        name = None
        if key is not None:
            try:
                name = await anyio.to_thread.run_sync(self._name_of, key)
            except SQLAlchemyError as error:
                log.error("database unavailable: %s", error.__class__.__name__, exc_info=error)
                await unavailable()(scope, receive, send)
                return
        if name is None:
            refused = problem(401, _INVALID if key else _MISSING, headers=Unauthorized.headers)
            await refused(scope, receive, send)
            return
        scope[KEY_NAME] = name
        await self.app(scope, receive, send)

    def _guarded(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is Match.FULL for route in self.guarded)

    def _name_of(self, key: str) -> str | None:
        connections: ReadConnections = self.api.state.read_connections
        with connections() as db:
            return key_name(db, key)
