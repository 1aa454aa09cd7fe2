"""PostgreSQL keeps each searchable row's weighted tsvector in a stored generated column.

The GIN indexes were built on the tsvector expression, so ranking a match re-parsed the row's
text with ``to_tsvector`` every time it was read: a search matching a thousand indicators
cost five times one matching a few. ``ts_rank`` over the stored column reads the vector as it
is. The index moves from the expression to the column, under the same name. SQLite's FTS5
tables keep their own index and are left as they are.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The searchable columns and their weights, as the GIN indexes of 0001 were built on them.
SEARCH_COLUMNS = {
    "articles": {"title": "A", "subtitle": "B", "summary": "B", "author": "C", "body": "D"},
    "sectors": {"name": "A", "description": "B"},
    "indicators": {"name": "A", "description": "B"},
}
COLUMN = "search_document"  # app.search.DOCUMENT_COLUMN


def document(columns: dict[str, str]) -> str:
    return " || ".join(
        f"setweight(to_tsvector('english'::regconfig, coalesce({column}, '')), '{weight}')"
        for column, weight in columns.items()
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, columns in SEARCH_COLUMNS.items():
        op.execute(f"DROP INDEX ix_{table}_search")
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {COLUMN} tsvector "
            f"GENERATED ALWAYS AS ({document(columns)}) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin ({COLUMN})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, columns in SEARCH_COLUMNS.items():
        op.execute(f"DROP INDEX ix_{table}_search")
        op.execute(f"ALTER TABLE {table} DROP COLUMN {COLUMN}")
        op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (({document(columns)}))")
