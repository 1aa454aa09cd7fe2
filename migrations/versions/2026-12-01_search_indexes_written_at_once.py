"""PostgreSQL's search indexes take each new row into the index itself, not a pending list.

By default a GIN index queues new entries in a pending list that every search reads in full
until a vacuum merges it. An import of 1,000 articles left 365 pages there: the planner then
priced the index above reading every article's stored tsvector, and a search for one word
took 25 ms instead of 0.2. Without the list, a write updates the index at once: six
alternated imports of 100,000 observations (100 articles) took 19.0 to 23.6 s without it and
19.0 to 23.4 s with it (medians 21.9 and 20.6 s), on a noisy machine. The entries already
queued are merged here. SQLite's FTS5 tables have no such list.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = ("ix_articles_search", "ix_sectors_search", "ix_indicators_search")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
