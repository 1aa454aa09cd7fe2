"""Reading a bundle file of any size: the small parts whole, observations as a stream.

``policyfacts import`` goes through here so that a bundle of a million observations loads
in bounded memory: the file is read up to the end of each of the small lists (sectors,
articles, indicators), which are taken whole, and once more for the observations, which
are validated and handed to the loader a chunk at a time, with their place in the bundle
for every error. Where a name appears twice in the bundle, its first list is the one read.
"""

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import ijson
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.errors import Invalid, validation_errors
from app.importer import CHUNK, Loader
from app.schemas import (
    ArticleCreate,
    ImportResult,
    IndicatorCreate,
    ObservationImport,
    SectorCreate,
)

Model = TypeVar("Model", bound=BaseModel)
Progress = Callable[[int], None]
Report = Callable[[Iterable[dict[str, Any]]], None]  # takes errors located in the bundle


def load_file(loader: Loader, path: Path, *, progress: Progress | None = None) -> ImportResult:
    """Load the bundle at ``path`` through ``loader``; ``progress`` gets bytes read so far."""
    with path.open("rb") as file:
        try:
            sectors = _validated(loader, file, "sectors", SectorCreate)
            articles = _validated(loader, file, "articles", ArticleCreate)
            indicators = _validated(loader, file, "indicators", IndicatorCreate)
            loader.head(sectors, articles, indicators)
            file.seek(0)
            chunk: list[tuple[int, ObservationImport]] = []
            for index, item in _stream(loader, file, "observations", ObservationImport):
                chunk.append((index, item))
                if len(chunk) == CHUNK:
                    loader.observations(chunk)
                    chunk = []
                    if progress is not None:
                        progress(file.tell())
            loader.observations(chunk)
        except ijson.JSONError as exc:
            raise Invalid(
                "The file is not a JSON bundle.",
                errors=[{"loc": ["file"], "msg": str(exc), "type": "json_invalid"}],
            ) from exc
    if progress is not None:
        progress(path.stat().st_size)
    return loader.finish()


def _validated(loader: Loader, file: BinaryIO, key: str, model: type[Model]) -> list[Model]:
    """The valid items of the small list ``key``, read whole: the file is parsed only as
    far as the end of that list, where reading its items one by one parsed all of it, every
    observation included, for each small list (0.24 s of each 100,000 observations, three
    times over)."""
    file.seek(0)
    items: Any = next(ijson.items(file, key, use_float=True), [])
    if not isinstance(items, list):
        loader.invalid([{"loc": [key], "msg": "Input should be a valid list", "type": "list_type"}])
        return []
    return [item for _, item in _validated_chunk(loader.invalid, key, *_adapters(model), items, 0)]


def _stream(
    loader: Loader, file: BinaryIO, key: str, model: type[Model]
) -> Iterator[tuple[int, Model]]:
    """The valid items of the list ``key``; the errors of the others go to the loader.

    Items are validated a chunk at a time, in one call (most of the cost of validating one
    small item is the call); a chunk with an error is validated again item by item, so that
    each error keeps its item's place.
    """
    one, many = _adapters(model)
    raw: list[Any] = []
    start = 0
    for index, item in enumerate(ijson.items(file, f"{key}.item", use_float=True)):
        raw.append(item)
        if len(raw) == CHUNK:
            yield from _validated_chunk(loader.invalid, key, one, many, raw, start)
            raw, start = [], index + 1
    yield from _validated_chunk(loader.invalid, key, one, many, raw, start)


def _adapters(model: type[Model]) -> tuple[TypeAdapter[Model], TypeAdapter[list[Model]]]:
    """Validators of one item and of a list of them."""
    return TypeAdapter(model), TypeAdapter(list[model])  # type: ignore[valid-type]


def validated_items(
    report: Report, key: str, model: type[Model], raw: list[Any]
) -> Iterator[tuple[int, Model]]:
    """The valid items of the list ``raw`` (the bundle's ``key``), validated a chunk at a
    time: a list of 100,000 is never one call that holds the interpreter for seconds."""
    one, many = _adapters(model)
    for start in range(0, len(raw), CHUNK):
        yield from _validated_chunk(report, key, one, many, raw[start : start + CHUNK], start)


def _validated_chunk(
    report: Report,
    key: str,
    one: TypeAdapter[Model],
    many: TypeAdapter[list[Model]],
    raw: list[Any],
    start: int,
) -> Iterator[tuple[int, Model]]:
    try:
        yield from enumerate(many.validate_python(raw), start=start)
        return
    except ValidationError:
        pass
    for index, item in enumerate(raw, start=start):
        try:
            yield index, one.validate_python(item)
        except ValidationError as exc:
            report(
                {**error, "loc": [key, index, *error["loc"]]}
                for error in validation_errors(exc.errors())
            )
