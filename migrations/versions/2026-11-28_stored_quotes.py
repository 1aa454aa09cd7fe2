"""Observations keep their quote, not only its offsets in the article body.

The quote was cut from the body on every read: ``substr`` counts characters from the start of
the text (and PostgreSQL decompresses the body up to there), so a page of observations quoted
near the end of long articles cost several times one quoted near their start: the last page
of a million observations cost four times the first on PostgreSQL. The importer writes the
quote with its offsets, from the same body it checked them against.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("observations", sa.Column("quote", sa.Text(), nullable=True))
    op.execute(
        "UPDATE observations SET quote = (SELECT substr(articles.body, "
        "observations.quote_start + 1, observations.quote_end - observations.quote_start) "
        "FROM articles WHERE articles.id = observations.article_id)"
    )
    with op.batch_alter_table("observations") as batch:
        batch.alter_column("quote", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("quote")
