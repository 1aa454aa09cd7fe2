"""What every write shares: JSON merge patches, If-Match preconditions, and loading one item
through the importer, so that a POST, a PATCH and an import check a resource the same way."""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.errors import (
    Conflict,
    Invalid,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    UnsupportedMediaType,
    lost_race,
    validation_errors,
)
from app.importer import Loader, bump_version, load_bundle
from app.models import Observation
from app.responses import etag_for
from app.schemas import Bundle, ImportCounts, ObservationImport

PATCH_TYPES = ("application/merge-patch+json", "application/json")
# How many times a write runs before a race it keeps losing is the client's 409.
ATTEMPTS = 5

P = ParamSpec("P")
R = TypeVar("R")


def retried(write: Callable[P, R]) -> Callable[P, R]:
    """``write`` (a function given the request's session) run again when it lost a race to
    another writer (``errors.lost_race``): a deadlock, a unique key another writer has just
    taken, a row it was about to update deleted meanwhile.

    Each attempt runs in a savepoint, which a lost race rolls back with the locks taken in
    it; at READ COMMITTED the next attempt's statements see what the winner committed, so
    it finds the rows the winner created (ten imports of one new bundle: one creates, nine
    find it unchanged) and misses those it deleted. A write changes nothing outside the
    database before it returns, so running it again is safe. SQLite never loses such a race:
    its writers queue for the write lock (``BEGIN IMMEDIATE``).
    """

    @functools.wraps(write)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        session = next(a for a in (*args, *kwargs.values()) if isinstance(a, Session))
        for _ in range(ATTEMPTS - 1):
            try:
                with session.begin_nested():
                    return write(*args, **kwargs)
            except Exception as exc:
                if not lost_race(exc):
                    raise
                # Rows read in the failed attempt keep their values in the session unless
                # expired; the next attempt reads them again.
                session.expire_all()
        with session.begin_nested():
            return write(*args, **kwargs)

    return run


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def patch_media_type(request: Request) -> None:
    """A PATCH body is a JSON merge patch: application/merge-patch+json or application/json."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in PATCH_TYPES:
        raise UnsupportedMediaType(
            "Send the patch as application/merge-patch+json (or application/json)."
        )


def apply_patch(current: dict[str, Any], update: BaseModel, create: type[BaseModel]) -> Any:
    """The resource ``current`` as its GET shows it, with the merge patch ``update``, as
    the ``create`` model: the fields that model takes are the ones a client writes (the
    rest, such as timestamps and counts, are derived), so none is lost or nulled."""
    writable = {name: current[name] for name in create.model_fields}
    patch = update.model_dump(mode="json", exclude_unset=True)
    return validate(create, merge_patch(writable, patch))


def check_if_match(request: Request, current: dict[str, Any]) -> None:
    """The client's ``If-Match`` must be the resource's current strong ETag."""
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired(
            "PATCH needs If-Match with the resource's ETag: GET it first, then send its tag."
        )
    etag = etag_for(orjson.dumps(current))
    tags = [tag.strip() for tag in header.split(",")]
    if "*" not in tags and etag not in tags:  # strong comparison: W/ tags never match
        raise PreconditionFailed(
            "The resource has changed since that ETag: GET it again and reapply the change."
        )


def validate(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """``data`` as ``model``, with errors located in the request body."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ["body", *e["loc"]]} for e in validation_errors(exc.errors())]
        raise Invalid("The request body is not valid.", errors=errors) from exc


def load_one(session: Session, kind: str, item: BaseModel) -> ImportCounts:
    """Load one resource through the importer; its errors point into the request body."""
    try:
        result = load_bundle(session, Bundle.model_validate({kind: [item]}))
    except Invalid as exc:
        raise _in_the_body(exc) from exc
    counts: ImportCounts = getattr(result, kind)
    return counts


def replace_observation(session: Session, observation_id: int, item: ObservationImport) -> None:
    """Write ``item`` over an observation through the importer (``Loader.replace``): the
    checks, the columns and the data version of every other write of an observation."""
    loader = Loader(session)
    loader.replace(observation_id, item)
    try:
        loader.finish()
    except Invalid as exc:
        raise _in_the_body(exc) from exc


def _in_the_body(exc: Invalid) -> Invalid:
    """The errors of a one-item load, located in the request body."""
    errors = [{**e, "loc": ["body", *e["loc"][2:]]} for e in exc.errors or []]
    return Invalid("The request body is not valid.", errors=errors)


def create_one(session: Session, kind: str, item: BaseModel, taken: str) -> None:
    """Load a new resource; if another writer created it first, a 409 saying ``taken``.

    The caller's check that the resource does not exist is not enough on PostgreSQL: a
    writer that committed after it is seen by the importer's next statement, and the create
    would silently become an update of the other writer's resource.
    """
    if load_one(session, kind, item).created != 1:
        raise Conflict(taken)


def lock(session: Session, model: Any, **identity: Any) -> int | None:
    """The id of the row, locked until the transaction ends (SQLite: the write lock is held
    from BEGIN IMMEDIATE already), so that a precondition check and its update are one step."""
    statement = select(model.id).filter_by(**identity)
    if session.get_bind().dialect.name != "sqlite":
        statement = statement.with_for_update()
    found: int | None = session.scalar(statement)
    return found


def created(request: Request, location: str, body: dict[str, Any]) -> Response:
    """201 with ``Location`` and the resource as a GET would give it, ETag included."""
    content = orjson.dumps(body)
    return Response(
        content,
        status_code=201,
        media_type="application/json",
        headers={"Location": location, "ETag": etag_for(content)},
    )


def updated(body: dict[str, Any]) -> Response:
    content = orjson.dumps(body)
    return Response(content, media_type="application/json", headers={"ETag": etag_for(content)})


def no_content() -> Response:
    return Response(status_code=204)


def refuse_if_cited(session: Session, condition: Any, what: str) -> None:
    """A 409 that names the observations depending on ``what``, if there are any."""
    ids = list(session.scalars(select(Observation.id).where(condition).order_by(Observation.id)))
    if ids:
        shown = ", ".join(str(i) for i in ids[:20]) + (", ..." if len(ids) > 20 else "")
        raise Conflict(
            f"{len(ids)} observation(s) depend on {what} (ids {shown}); delete them first, "
            "or send cascade=true to delete them with it."
        )


def merge_patch_body(schema: str) -> dict[str, Any]:
    """The OpenAPI request body of a PATCH: a merge patch shaped as ``schema``, and the
    ``If-Match`` header it needs (read by check_if_match, not by FastAPI: without it the
    answer is the contract's 428, not a 422)."""
    reference = {"$ref": f"#/components/schemas/{schema}"}
    return {
        "parameters": [
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": "The resource's current `ETag`, from a GET, compared strongly: "
                "a stale one is a 412, none a 428.",
                "schema": {"type": "string"},
                "example": '"4e07408562bedb8b60ce05c1decfe3ad"',
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/merge-patch+json": {"schema": reference},
                "application/json": {"schema": reference},
            },
        },
    }


@dataclass(frozen=True)
class SlugResource:
    """The writes that articles, sectors and indicators share: each is named by a slug and
    loaded through the importer under its bundle key."""

    model: Any
    kind: str  # the bundle key: "articles"
    name: str  # "article"
    detail: Callable[[Connection, str], dict[str, Any] | None]  # what its GET shows
    create_model: type[BaseModel]  # what a client writes: the fields a PATCH merges into
    cited_by: Any = None  # the observation column that depends on it, if any

    def found(self, db: Connection, slug: str) -> dict[str, Any]:
        detail = self.detail(db, slug)
        if detail is None:
            raise NotFound(f"No {self.name} with slug {slug!r}.")
        return detail

    @retried
    def create(self, request: Request, session: Session, item: BaseModel) -> Response:
        slug = getattr(item, "slug")  # noqa: B009 - every create model has one
        taken = f"The slug {slug!r} is taken: PATCH that {self.name} instead."
        if lock(session, self.model, slug=slug) is not None:
            raise Conflict(taken)
        create_one(session, self.kind, item, taken)
        return created(request, f"/v1/{self.kind}/{slug}", self.found(session.connection(), slug))

    @retried
    def update(self, request: Request, session: Session, slug: str, patch: BaseModel) -> Response:
        if lock(session, self.model, slug=slug) is None:
            raise NotFound(f"No {self.name} with slug {slug!r}.")
        current = self.found(session.connection(), slug)
        check_if_match(request, current)
        load_one(session, self.kind, apply_patch(current, patch, self.create_model))
        return updated(self.found(session.connection(), slug))

    @retried
    def delete(self, session: Session, slug: str, *, cascade: bool = False) -> Response:
        row_id = lock(session, self.model, slug=slug)
        if row_id is None:
            raise NotFound(f"No {self.name} with slug {slug!r}.")
        if self.cited_by is not None and not cascade:
            refuse_if_cited(session, self.cited_by == row_id, f"{self.name} {slug!r}")
        session.execute(delete(self.model).where(self.model.id == row_id))
        bump_version(session)
        return no_content()
