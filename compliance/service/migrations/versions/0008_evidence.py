"""The evidence store: one row per file kept (by its SHA-256), the accounts that uploaded each, and the centres
whose audits name each; all three append-only, enforced by the database as for audits.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)
_TABLES = ("evidence", "evidence_uploads", "evidence_uses")


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", _TZ, nullable=False),
    )
    op.create_table(
        "evidence_uploads",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Integer, primary_key=True),
        sa.Column("uploaded_at", _TZ, nullable=False),
    )
    op.create_table(
        "evidence_uses",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("centre_id", sa.String(200), primary_key=True),
        sa.Column("audit_id", sa.String(32), nullable=False),
    )
    # Append-only, as audits are: a file kept is never changed or removed, nor who uploaded it, nor who named it.
    dialect = op.get_bind().dialect.name
    for table in _TABLES:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END")
        elif dialect == "postgresql":
            op.execute(f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                       f"$$ BEGIN RAISE EXCEPTION '{table} are append-only'; END $$")
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in reversed(_TABLES):
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
        op.drop_table(table)
