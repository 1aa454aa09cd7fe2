"""An index that finds each indicator's newest observation of a kind in a few page reads.

The latest actual and target of an indicator (``latest`` in every indicator) are looked up
by the newest ``period_end`` of that indicator and kind; without this index, that ranked
every observation of the indicator, and a list of indicators cost 20 times more at a million
observations than on the seed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_observations_indicator_kind_period_end",
        "observations",
        ["indicator_id", "kind", "period_end"],
    )


def downgrade() -> None:
    op.drop_index("ix_observations_indicator_kind_period_end", table_name="observations")
