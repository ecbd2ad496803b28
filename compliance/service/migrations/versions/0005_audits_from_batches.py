"""Audits remember the batch they came from: a finished batch's centres join the history and the dashboard
once, whatever restarts happen in between.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new nullable column needs no rewrite of the table, so the append-only triggers stay as they are.
    op.add_column("audits", sa.Column("batch_id", sa.String(32)))
    op.create_index("ix_audits_batch", "audits", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_audits_batch", "audits")
    with op.batch_alter_table("audits") as batch:
        batch.drop_column("batch_id")
