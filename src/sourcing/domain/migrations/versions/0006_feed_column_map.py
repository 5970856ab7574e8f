"""feed column map: a source's own headers read as schema columns, saved for its next feeds

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_column_map",
        sa.Column("feed_source", sa.String(length=128), nullable=False),
        sa.Column("feed_kind", sa.String(length=16), nullable=False),
        sa.Column("header", sa.String(length=64), nullable=False),
        sa.Column("column", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("feed_source", "feed_kind", "header"),
    )


def downgrade() -> None:
    op.drop_table("feed_column_map")
