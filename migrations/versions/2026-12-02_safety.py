"""What the service keeps for its own safety: a shared secret, the seed's ledger, key names.

- ``secrets``: values the service makes for itself that every instance on the database
  must share, such as the key that signs cursors when none is configured (a public default
  let anyone forge a cursor).
- ``seed_items``: each item of the shipped seed that the database has held. Loading the seed
  again skips them, so it never brings back what a curator deleted nor undoes a change. Of a
  database seeded before this migration, the next seed records what it holds; what was
  deleted before then cannot be known.
- ``api_keys``: a name is unique among live keys only, so a revoked key's name can be reused.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secrets")),
    )
    op.create_table(
        "seed_items",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_seed_items")),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("uq_api_keys_name", type_="unique")
    op.create_index(
        "ix_api_keys_active_name",
        "api_keys",
        ["name"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_api_keys_active_name", table_name="api_keys")
    # A name reused after a revocation cannot be unique again: the revoked keys give way.
    op.execute(
        "DELETE FROM api_keys WHERE revoked_at IS NOT NULL AND name IN "
        "(SELECT name FROM api_keys GROUP BY name HAVING COUNT(*) > 1)"
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.create_unique_constraint("uq_api_keys_name", ["name"])
    op.drop_table("seed_items")
    op.drop_table("secrets")
