"""Several service processes on one database: leases on background work (a batch, a round's files), so that one
process runs it and another takes it over when the holder dies, and failed logins, so that the login throttle
holds across processes.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("work_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("renewed_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("claims", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_login_failures_name", "login_failures", ["name", "at"])
    op.create_index("ix_login_failures_address", "login_failures", ["address", "at"])
    op.create_index("ix_login_failures_at", "login_failures", ["at"])


def downgrade() -> None:
    for index in ("ix_login_failures_at", "ix_login_failures_address", "ix_login_failures_name"):
        op.drop_index(index, "login_failures")
    op.drop_table("login_failures")
    op.drop_table("leases")
