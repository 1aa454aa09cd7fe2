"""API keys: created by the CLI, shown once, stored as hashes, checked in constant time."""

import hashlib
import hmac
import secrets
import unicodedata
from datetime import datetime
from typing import Annotated, ClassVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import SessionDep
from app.errors import AppError
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


def key_is_valid(session: Session, key: str) -> bool:
    """Whether ``key`` is a live key; the hash comparison takes the same time either way."""
    candidates = session.scalars(
        select(ApiKey.key_hash).where(ApiKey.prefix == key[:_LOOKUP], ApiKey.revoked_at.is_(None))
    ).all()
    given = _hash(key)
    valid = False
    for stored in candidates or [_DUMMY_HASH]:
        valid |= hmac.compare_digest(given, stored)
    return valid


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A key from `policyfacts keys create NAME`, sent as `Authorization: Bearer <key>`.",
)


def require_key(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Writes need a live key: a missing, wrong or revoked one is a 401 and changes nothing."""
    if credentials is None:
        raise Unauthorized("This request writes: send `Authorization: Bearer <api key>`.")
    if not key_is_valid(session, credentials.credentials):
        raise Unauthorized("The API key is not valid, or has been revoked.")


WriteKey = Depends(require_key)
