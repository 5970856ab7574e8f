"""job.dedup_key (one scheduled run per day across replicas) and reorder_draft (alert actions)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import sourcing.domain.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dedup_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True)
        )
        batch_op.create_unique_constraint("uq_job_dedup_key", ["dedup_key"])
    op.create_table(
        "reorder_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("supplier_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("lines", _JSON, nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sourcing.domain.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"]),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyer.id"]),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reorder_draft", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reorder_draft_buyer_id"), ["buyer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reorder_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reorder_draft_buyer_id"))
    op.drop_table("reorder_draft")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_constraint("uq_job_dedup_key", type_="unique")
        batch_op.drop_column("dedup_key")
