"""Full-text search on both backends: SQLite FTS5 and PostgreSQL text search.

Whatever a user types is read as words: every word must match (stemmed where the backend
stems), in any order, and nothing in the text is an operator. Each backend ranks with its own
function; both are exposed here as a ``score`` where lower is a better match.
"""

import re

from sqlalchemy import (
    Float,
    FromClause,
    Integer,
    Table,
    false,
    func,
    literal,
    literal_column,
    select,
    text,
)

# The searchable columns of each table and their weight. The migration that builds the FTS5
# tables and the PostgreSQL GIN indexes uses the same columns, in the same order.
SEARCH_COLUMNS: dict[str, dict[str, str]] = {
    "articles": {"title": "A", "subtitle": "B", "summary": "B", "author": "C", "body": "D"},
    "sectors": {"name": "A", "description": "B"},
    "indicators": {"name": "A", "description": "B"},
}
_BM25_WEIGHTS = {"A": 10.0, "B": 4.0, "C": 2.0, "D": 1.0}
_WORD = re.compile(r"\w+")


def words(q: str) -> list[str]:
    """The words of what a user typed; punctuation, operators and control characters drop out."""
    return _WORD.findall(q)


def is_search_object(name: str | None) -> bool:
    """Whether a table or index belongs to full-text search (built by hand, not by the models)."""
    return name is not None and ("_fts" in name or name.endswith("_search"))


def pg_document(table: str) -> str:
    """The weighted tsvector expression that the PostgreSQL GIN index of ``table`` is built on."""
    parts = [
        f"setweight(to_tsvector('english'::regconfig, coalesce({column}, '')), '{weight}')"
        for column, weight in SEARCH_COLUMNS[table].items()
    ]
    return " || ".join(parts)


def scores(table: Table, q: str, dialect: str) -> FromClause:
    """A subquery ``(id, score)`` of the rows of ``table`` that match every word of ``q``."""
    terms = words(q)
    name = table.name
    if not terms:
        # Nothing but punctuation: no word to match, so nothing matches.
        return select(table.c.id.label("id"), literal(0.0).label("score")).where(false()).subquery(
            f"{name}_scores"
        )
    if dialect == "sqlite":
        # Each word becomes an FTS5 string ("..." with quotes doubled): never an operator.
        match = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
        weights = ", ".join(str(_BM25_WEIGHTS[w]) for w in SEARCH_COLUMNS[name].values())
        return (
            text(
                f"SELECT rowid AS id, bm25({name}_fts, {weights}) AS score "
                f"FROM {name}_fts WHERE {name}_fts MATCH :match_{name}"
            )
            .bindparams(**{f"match_{name}": match})
            .columns(id=Integer, score=Float)
            .subquery(f"{name}_scores")
        )
    document = literal_column(pg_document(name))
    query = func.plainto_tsquery(literal_column("'english'::regconfig"), " ".join(terms))
    return (
        select(table.c.id.label("id"), (-func.ts_rank(document, query)).label("score"))
        .where(document.op("@@")(query))
        .subquery(f"{name}_scores")
    )


def snippet(text_: str | None, q: str, *, width: int = 160) -> str:
    """A plain-text window of ``text_`` around the first word of ``q`` it contains."""
    if not text_:
        return ""
    flat = " ".join(text_.split())
    lowered = flat.casefold()
    positions = [lowered.find(term.casefold()[:5]) for term in words(q)]
    found = [p for p in positions if p >= 0]
    at = min(found) if found else 0
    start = max(0, at - width // 3)
    end = min(len(flat), start + width)
    if start > 0:
        start = flat.find(" ", start) + 1 or start
    return ("…" if start > 0 else "") + flat[start:end].strip() + ("…" if end < len(flat) else "")
