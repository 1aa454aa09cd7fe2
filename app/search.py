"""Full-text search on both backends: SQLite FTS5 and PostgreSQL text search.

Whatever a user types is read as words: every word must match (stemmed where the backend
stems), in any order, and nothing in the text is an operator. A word is a run of letters and
digits; the English stopwords that PostgreSQL leaves out of its index are left out on SQLite
too, so that both backends find the same items. Both rank so that a match in a heavier column
(a name, a title) beats any match in lighter ones alone, so scores of different tables can be
merged (``/v1/search``); the score is exposed as ``score``, lower is a better match.
"""

import re
from typing import Any

from sqlalchemy import (
    ColumnClause,
    Float,
    FromClause,
    Integer,
    false,
    func,
    literal,
    literal_column,
    select,
    text,
)

from app.models import Base

# The searchable columns of each table and their weight. The migration that builds the FTS5
# tables and the PostgreSQL GIN indexes uses the same columns, in the same order.
SEARCH_COLUMNS: dict[str, dict[str, str]] = {
    "articles": {"title": "A", "subtitle": "B", "summary": "B", "author": "C", "body": "D"},
    "sectors": {"name": "A", "description": "B"},
    "indicators": {"name": "A", "description": "B"},
}
_BM25_WEIGHTS = {"A": 10.0, "B": 4.0, "C": 2.0, "D": 1.0}
# Letters and digits. Not ``\w``: the underscore separates words for FTS5's unicode61 and for
# PostgreSQL's parser alike, so "growth_rate" is two words, as it is in the indexes.
_WORD = re.compile(r"[^\W_]+")
# PostgreSQL's english.stop, as it ships: its 'english' configuration indexes none of these, so
# a query can never require them there; SQLite drops them from queries too, so both answer alike.
_ENGLISH_STOP = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
her hers herself it its itself they them their theirs themselves what which who whom this that
these those am is are was were be been being have has had having do does did doing a an the and
but if or because as until while of at by for with about against between into through during
before after above below to from up down in out on off over under again further then once here
there when where why how all any both each few more most other some such no nor not only own
same so than too very s t can will just don should now
"""
STOPWORDS = frozenset(_ENGLISH_STOP.split())


def words(q: str) -> list[str]:
    """The words of what a user typed, each once (ignoring case), in order, without stopwords.

    Punctuation, operators, quotes, wildcards, underscores, control characters and emoji only
    separate words; nothing is left that a full-text engine could read as syntax.
    """
    found: dict[str, str] = {}
    for word in _WORD.findall(q):
        key = word.casefold()
        if key not in STOPWORDS:
            found.setdefault(key, word)
    return list(found.values())


# On PostgreSQL, each searchable table's weighted tsvector of SEARCH_COLUMNS, a stored
# generated column that its GIN index ``ix_<table>_search`` is built on (migration 0005).
DOCUMENT_COLUMN = "search_document"


def is_search_object(name: str | None) -> bool:
    """Whether a table, index or column belongs to full-text search (built by hand, not by
    the models)."""
    return name is not None and (
        "_fts" in name or name.endswith("_search") or name == DOCUMENT_COLUMN
    )


def scores(model: type[Base], q: str, dialect: str) -> FromClause:
    """A subquery ``(id, score)`` of the rows of ``model`` that match every word of ``q``."""
    terms = words(q)
    name = model.__tablename__
    table = Base.metadata.tables[name]
    if not terms:
        # Nothing but punctuation: no word to match, so nothing matches.
        return (
            select(table.c.id.label("id"), literal(0.0).label("score"))
            .where(false())
            .subquery(f"{name}_scores")
        )
    if dialect == "sqlite":
        # Each word becomes an FTS5 string ("..." with quotes doubled): never an operator.
        match = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
        return (
            text(
                f"SELECT rowid AS id, {_fts5_score(name)} AS score "
                f"FROM {name}_fts WHERE {name}_fts MATCH :match_{name}"
            )
            .bindparams(**{f"match_{name}": match})
            .columns(id=Integer, score=Float)
            .subquery(f"{name}_scores")
        )
    document: ColumnClause[Any] = literal_column(f"{name}.{DOCUMENT_COLUMN}")
    # plainto_tsquery reads its text as plain words (never operators) with the same parser
    # that built the index, so "28.6" is the one word the index holds; only NUL, which no
    # PostgreSQL text may hold, has to go.
    query = func.plainto_tsquery(literal_column("'english'::regconfig"), q.replace("\x00", " "))
    return (
        select(table.c.id.label("id"), (-func.ts_rank(document, query)).label("score"))
        .where(document.op("@@")(query))
        .subquery(f"{name}_scores")
    )


def _fts5_score(table: str) -> str:
    """The SQL of a score for rows of ``table``'s FTS5 index, lower is better, that ranks
    rows by the heaviest column that matches, then by weighted BM25 within that tier.

    BM25 alone is no good across tables, nor between a name and a long description: its IDF
    depends on each table's rows, so a word in a sector's description could outrank the same
    word in an indicator's name. The tier is the weight of the heaviest column holding a word
    of the query (bm25 with only that column weighted is negative exactly when it does); BM25,
    mapped from (-inf, 0] into (-1, 0], orders rows within a tier without ever crossing into
    the next one (weights differ by at least 1).
    """
    columns = SEARCH_COLUMNS[table]
    fts = f"{table}_fts"
    weights = ", ".join(str(_BM25_WEIGHTS[w]) for w in columns.values())
    tiers = []
    for tier in sorted(set(columns.values())):  # "A" first: the heaviest
        only = ", ".join("1.0" if w == tier else "0.0" for w in columns.values())
        tiers.append(f"WHEN bm25({fts}, {only}) < 0 THEN {_BM25_WEIGHTS[tier]}")
    bm25 = f"bm25({fts}, {weights})"
    return f"({bm25} / (1.0 - {bm25}) - CASE {' '.join(tiers)} ELSE 0.0 END)"


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
