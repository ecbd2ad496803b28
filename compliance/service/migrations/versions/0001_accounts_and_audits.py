"""Accounts and the append-only audit history.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("centre_id", sa.String(200)),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("password", sa.String(300)),
        sa.Column("created_at", _TZ, nullable=False),
        sa.CheckConstraint("role in ('bureau', 'community', 'system')", name="ck_accounts_role"),
    )
    op.create_table(
        "audits",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("centre_id", sa.String(200), nullable=False),
        sa.Column("centre_name", sa.Text, nullable=False),
        sa.Column("street", sa.Text, nullable=False),
        sa.Column("ruleset_id", sa.String(200), nullable=False),
        sa.Column("ruleset_version", sa.String(100), nullable=False),
        sa.Column("ruleset_hash", sa.String(64), nullable=False),
        sa.Column("profile_sha256", sa.String(64), nullable=False),
        sa.Column("profile", sa.LargeBinary, nullable=False),
        sa.Column("profile_type", sa.String(100), nullable=False),
        sa.Column("result", sa.LargeBinary, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("grade", sa.String(50), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        sa.Column("submitted_at", _TZ, nullable=False),
    )
    op.create_index("ix_audits_centre", "audits", ["centre_id", "seq"])
    # Append-only, enforced by the database itself: a stored audit is never changed or removed.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audits_no_{verb.lower()} BEFORE {verb} ON audits "
                       "BEGIN SELECT RAISE(ABORT, 'audits are append-only'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION audits_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'audits are append-only'; END $$")
        op.execute("CREATE TRIGGER audits_append_only BEFORE UPDATE OR DELETE ON audits "
                   "FOR EACH ROW EXECUTE FUNCTION audits_append_only()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audits_no_update")
        op.execute("DROP TRIGGER IF EXISTS audits_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audits_append_only ON audits")
        op.execute("DROP FUNCTION IF EXISTS audits_append_only()")
    op.drop_index("ix_audits_centre", "audits")
    op.drop_table("audits")
    op.drop_table("accounts")
