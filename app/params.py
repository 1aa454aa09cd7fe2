"""Path parameters that name a resource: a value that cannot name one is a plain 404."""

from collections.abc import Callable, Coroutine
from typing import Annotated

from fastapi import Depends, Path

from app.errors import NotFound
from app.schemas import is_slug

# Ids are INTEGER columns: on PostgreSQL no row has an id past this, and asking it about
# one is an error of its own, not a miss.
MAX_ID = 2**31 - 1

# The dependencies are ``async def`` though they never wait: FastAPI runs a plain ``def``
# dependency in a worker thread, a hop that costs more than the check.


def _slug(resource: str) -> Callable[[str], Coroutine[None, None, str]]:
    """The dependency that reads a ``{slug}`` of ``resource``; a value that is not a slug at
    all (a NUL byte, spaces) is answered as the miss it is, without asking the database."""

    async def existing(
        slug: Annotated[str, Path(max_length=200, description=f"The {resource}'s slug.")],
    ) -> str:
        if not is_slug(slug):
            raise NotFound(f"No {resource} with slug {slug!r}.")
        return slug

    return existing


ArticleSlug = Annotated[str, Depends(_slug("article"))]
SectorSlug = Annotated[str, Depends(_slug("sector"))]
IndicatorSlug = Annotated[str, Depends(_slug("indicator"))]


async def _observation_id(
    id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The observation's id.")],
) -> int:
    if id > MAX_ID:
        raise NotFound(f"No observation with id {id}.")
    return id


ObservationId = Annotated[int, Depends(_observation_id)]
