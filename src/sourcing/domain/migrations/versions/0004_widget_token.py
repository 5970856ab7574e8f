"""widget tokens: short-lived, origin-bound sign-ins for the web widget

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from sourcing.domain.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "widget_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("buyer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("issued_by_key_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["buyer_id"], ["buyer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("widget_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_widget_token_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_widget_token_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("widget_token")
