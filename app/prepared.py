"""Hot statements, compiled once per dialect and sent as plain SQL: the reads of the hot
paths (``Prepared``) and the insert of an import's observations (``BulkInsert``).

Executing a statement costs SQLAlchemy about 100 microseconds (a cache key, the compiled-cache
lookup, result metadata), twenty times what SQLite takes to run a lookup by key: on the hot
paths, that was most of an uncached read. A ``Prepared`` statement is compiled once per
dialect and run on the connection's DBAPI cursor, inside its transaction; its parameters and
rows go through the column types' own processors, so values come back as they would from
``execute``, and errors are raised as ``execute`` raises them (``app.db.run_on_cursor``).
Off the fast path (``app.fast``), and on a connection whose executions someone listens to or
echoes (``app.db.on_cursor``), both run through SQLAlchemy's ``execute`` instead, with the
same answers (tests/test_prepared.py).

A list of ids is one parameter (``in_ids``), so the SQL text does not depend on its length.
"""

import operator
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Connection,
    Dialect,
    Table,
    bindparam,
    insert,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from app.db import AnySelect, Column, on_cursor, run_on_cursor


class InIds(ColumnElement[bool]):
    """``column IN (the ids bound to parameter name)``, the list bound as a single value."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a predicate: never compared with 1 where SQLite has no bool
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own declaration)
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Column, name: str) -> None:
        self.column: ColumnElement[Any] = (
            column if isinstance(column, ColumnElement) else column.expression
        )
        self.ids: BindParameter[Any] = bindparam(name)


def in_ids(column: Column, name: str = "ids") -> ColumnElement[bool]:
    """``column`` is one of the ids given to ``Prepared.all`` as ``name`` (list it in
    ``Prepared(..., lists=...)``)."""
    return InIds(column, name)


@compiles(InIds, "sqlite")
def _in_ids_sqlite(element: InIds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} IN (SELECT value FROM json_each({compiler.process(element.ids, **kw)}))"


@compiles(InIds, "postgresql")
def _in_ids_postgresql(element: InIds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(CAST({compiler.process(element.ids, **kw)} AS INTEGER[]))"


@dataclass
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order, for a qmark driver
    defaults: dict[str, Any]  # the values bound in the statement itself
    bind_processors: Mapping[str, Callable[[Any], Any]]
    lists: frozenset[str]  # parameters that hold a list of ids
    json_lists: bool  # SQLite reads a list as JSON text
    row: Any  # a namedtuple class of the statement's column labels
    types: tuple[Any, ...]  # of the columns, as the dialect implements them
    # Known after the first execution: a driver may need the type codes of the cursor.
    processors: tuple[Callable[[Any], Any] | None, ...] | None = None


class Prepared:
    """A read statement, compiled on first use on each dialect; ``all`` runs it."""

    def __init__(self, statement: AnySelect, *, lists: Iterable[str] = ()) -> None:
        self.statement = statement
        self.lists = frozenset(lists)
        labels = statement.selected_columns.keys()
        self.row: Any = namedtuple("PreparedRow", labels)  # type: ignore[misc]
        self._compiled: dict[str, _Compiled] = {}

    def all(self, connection: Connection, **params: Any) -> list[Any]:
        """Every row, as named tuples whose fields are the statement's column labels."""
        if not on_cursor(connection):
            return self._executed(connection, params)
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values = dict(compiled.defaults)
        for name, value in params.items():
            if name in compiled.lists:
                values[name] = _list_value(value, compiled.json_lists)
            else:
                process = compiled.bind_processors.get(name)
                values[name] = process(value) if process else value
        arguments: Any = (
            tuple(values[name] for name in compiled.positional)
            if compiled.positional is not None
            else values
        )
        processors = compiled.processors
        rows, description = run_on_cursor(
            connection, compiled.sql, arguments, describe=processors is None
        )
        if processors is None:
            processors = compiled.processors = tuple(
                type_.result_processor(dialect, column[1])
                for type_, column in zip(compiled.types, description, strict=True)
            )
        make = compiled.row._make
        touched = [(i, process) for i, process in enumerate(processors) if process]
        if not touched:
            return [make(raw) for raw in rows]
        made = []
        for raw in rows:  # only the columns whose type has a processor (timestamps, dates)
            fields = list(raw)
            for i, process in touched:
                fields[i] = process(fields[i])
            made.append(make(fields))
        return made

    def _executed(self, connection: Connection, params: dict[str, Any]) -> list[Any]:
        """The rows through SQLAlchemy's own execution, with the lists of ids bound as
        ``InIds`` takes them."""
        json_lists = connection.dialect.name == "sqlite"
        values = {
            name: _list_value(value, json_lists) if name in self.lists else value
            for name, value in params.items()
        }
        make = self.row._make
        return [make(row) for row in connection.execute(self.statement, values)]

    def one_or_none(self, connection: Connection, **params: Any) -> Any:
        rows = self.all(connection, **params)
        return rows[0] if rows else None

    def _compile(self, dialect: Dialect) -> _Compiled:
        # A literal IN list in the statement becomes one parameter per value, as execute()
        # would send it: SQLAlchemy's expanded state says how, given some value for each
        # parameter that the caller gives.
        compiled = self.statement.compile(dialect=dialect)
        given = self.lists | {name for name, bind in compiled.binds.items() if bind.required}
        expanded = compiled.construct_expanded_state(dict.fromkeys(given))
        bind_processors = {
            name: process
            for name, bind in compiled.binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        } | dict(expanded.processors)  # and those of each value of an IN list
        defaults = {
            name: process(value) if (process := bind_processors.get(name)) else value
            for name, value in expanded.parameters.items()
            if name not in given
        }
        types = tuple(
            column.type.dialect_impl(dialect) for column in self.statement.selected_columns
        )
        positional = expanded.positiontup
        made = _Compiled(
            sql=expanded.statement,
            defaults=defaults,
            bind_processors=bind_processors,
            positional=tuple(positional) if dialect.positional and positional else None,
            lists=self.lists,
            json_lists=dialect.name == "sqlite",
            row=self.row,
            types=types,
        )
        self._compiled[dialect.name] = made
        return made


def _list_value(ids: Sequence[int], as_json: bool) -> Any:
    return orjson.dumps(list(ids)).decode() if as_json else list(ids)


class BulkInsert:
    """An INSERT of many rows of the same columns, compiled once per dialect and run with the
    driver's ``executemany``. SQLAlchemy's executemany spends more on each row's parameters
    than SQLite on inserting it; here each column's bind processor runs once per distinct
    value (an import repeats its periods and timestamps over thousands of rows)."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self.statement = insert(table).values({name: bindparam(name) for name in self.columns})
        self._compiled: dict[str, _CompiledInsert] = {}

    def run(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows``, each a sequence of values in the order of ``columns``."""
        if not rows:
            return
        if not on_cursor(connection):
            columns = self.columns
            connection.execute(
                self.statement, [dict(zip(columns, row, strict=True)) for row in rows]
            )
            return
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        # Only the columns whose type has a processor are touched (on SQLite: the dates and
        # timestamps), through a memo per column.
        touched: list[tuple[int, Callable[[Any], Any], dict[Any, Any]]] = [
            (i, process, {}) for i, process in enumerate(compiled.processors) if process
        ]
        arrange = compiled.arrange
        processed: list[Any] = []
        for row in rows:
            values = list(row)
            for i, process, memo in touched:
                value = values[i]
                if value is not None:
                    done = memo.get(value)
                    if done is None:
                        done = memo[value] = process(value)
                    values[i] = done
            processed.append(arrange(values))
        run_on_cursor(connection, compiled.sql, processed, many=True)

    def _compile(self, dialect: Dialect) -> "_CompiledInsert":
        compiled = self.statement.compile(dialect=dialect)
        binds = compiled.binds
        if dialect.positional:
            order = [self.columns.index(name) for name in compiled.positiontup or ()]
            arrange: Callable[[list[Any]], Any] = operator.itemgetter(*order)
        else:
            columns = self.columns
            arrange = lambda values: dict(zip(columns, values, strict=True))  # noqa: E731
        made = _CompiledInsert(
            sql=compiled.string,
            arrange=arrange,
            processors=tuple(
                binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in self.columns
            ),
        )
        self._compiled[dialect.name] = made
        return made


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    arrange: Callable[[list[Any]], Any]  # a row's values as the driver takes its parameters
    processors: tuple[Callable[[Any], Any] | None, ...]  # in the order of the columns
