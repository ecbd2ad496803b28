"""A batch remembers the language it was asked in: its outputs (errors.csv, the reports) speak it.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("lang", sa.String(8), nullable=False, server_default="zh"))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("lang")
