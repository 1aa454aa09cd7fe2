"""The fast path: what reaches past FastAPI's and SQLAlchemy's public API for speed, and the
one switch that turns it off.

Three pieces go around the frameworks: ``app.routing.Dispatch``, the router's entry, which
finds the routes of plain GETs before FastAPI's router does; the lean handler of those GETs
(``app.routing``, on ``fastapi._compat`` and ``starlette._utils``); and ``app.prepared``,
statements compiled once and run on the DBAPI cursor (``app.db.run_on_cursor``). A new
release of a framework may change any internal they use, so they are taken only when
``POLICYFACTS_FAST_PATH`` is true (the default) and FastAPI, Starlette, SQLAlchemy and
Pydantic are at versions of the ranges they were tested with (``TESTED``, the bounds
pyproject.toml pins). Otherwise the app is plain FastAPI and SQLAlchemy, with the same
answers: tests/test_routing.py and tests/test_prepared.py hold both ways to them.

The decision is the process's, not an app's: prepared statements are module constants run
on whatever connection they are given. ``create_app`` makes it from its settings; a process
without an app (``policyfacts import``) makes it from the environment on first use.
"""

import logging
from importlib.metadata import PackageNotFoundError, version

from packaging.specifiers import SpecifierSet

from app.config import Settings

# The versions the fast path was tested with: pyproject.toml's bounds of each, to the minor
# (tests/test_fast_path.py holds the two to the same ranges). Widen both after the suite
# passes, both ways, on a new release.
TESTED = {
    "fastapi": ">=0.121,<0.166",
    "starlette": ">=0.40,<1.11",
    "sqlalchemy": ">=2.1,<2.2",
    "pydantic": ">=2.7,<2.15",
}

log = logging.getLogger("policyfacts")

_taken: bool | None = None  # by configure(), or on first use by enabled()
_warned = False


def untested() -> list[str]:
    """The frameworks installed at a version outside ``TESTED``, as "name version"."""
    found = []
    for name, tested in TESTED.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "(none)"
        if not SpecifierSet(tested).contains(installed, prereleases=False):
            found.append(f"{name} {installed}")
    return found


def configure(*, wanted: bool) -> bool:
    """Whether this process takes the fast path from now on: ``wanted`` (the setting), and
    every framework at a tested version. An untested one is logged as a warning, once."""
    global _taken, _warned
    others = untested() if wanted else []
    if others and not _warned:
        _warned = True
        log.warning(
            "fast path off: %s not among the versions it was tested with (%s); serving "
            "through plain FastAPI and SQLAlchemy",
            ", ".join(others),
            ", ".join(f"{name}{tested}" for name, tested in TESTED.items()),
        )
    _taken = wanted and not others
    return _taken


def enabled() -> bool:
    """Whether the fast path is taken (``configure``, else the environment's setting)."""
    if _taken is None:
        return configure(wanted=Settings().fast_path)
    return _taken
