"""alert severity, title, action and subject ids; daily supplier snapshots

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # Server defaults fill rows written before this revision; the model sets every value itself.
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("severity", sa.String(), nullable=False, server_default="info")
        )
        batch_op.add_column(
            sa.Column(
                "title", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("action", _JSON, nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("supplier_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("source_event_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_alert_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_supplier_id"), ["supplier_id"], unique=False)
    op.create_table(
        "supplier_snapshot",
        sa.Column("supplier_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("integrity_score", sa.Integer(), nullable=False),
        sa.Column("quality_refund_rate", sa.Float(), nullable=False),
        sa.Column("in_stock_products", sa.Integer(), nullable=False),
        sa.Column("active_products", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["supplier_id"], ["supplier.id"]),
        sa.PrimaryKeyConstraint("supplier_id", "day"),
    )


def downgrade() -> None:
    op.drop_table("supplier_snapshot")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_alert_product_id"))
        batch_op.drop_column("source_event_id")
        batch_op.drop_column("supplier_id")
        batch_op.drop_column("product_id")
        batch_op.drop_column("action")
        batch_op.drop_column("title")
        batch_op.drop_column("severity")
