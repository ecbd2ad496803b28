"""Waivers granted in the service and rounds opened in it.

A waiver is kept as granted and never changed: revoking it is a new fact in its own table (who, when), one per
waiver. A round is opened once; the audits that name it (``audit.round``) are noted as they are stored, with
what the round's progress and files need to find them without reading every stored result.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

APPEND_ONLY = ("waivers", "waiver_revocations", "rounds", "round_audits")


def upgrade() -> None:
    op.create_table(
        "waivers",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("centre_id", sa.String(200), nullable=False),
        sa.Column("clause", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("approved_by", sa.Text, nullable=False),
        sa.Column("approved_on", sa.Date, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("ruleset_id", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_waivers_centre", "waivers", ["centre_id", "seq"])
    op.create_table(
        "waiver_revocations",
        sa.Column("waiver_id", sa.String(32), primary_key=True),
        sa.Column("revoked_by", sa.String(100), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_table(
        "rounds",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("rules", sa.String(200), nullable=False),
        sa.Column("region", sa.Text),
        sa.Column("self_check_due", sa.Date),
        sa.Column("inspection_due", sa.Date),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "round_audits",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("audit_id", sa.String(32), nullable=False, unique=True),
        sa.Column("centre_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("ruleset_id", sa.String(200), nullable=False),
        sa.Column("region", sa.Text, nullable=False),
    )
    op.create_index("ix_round_audits_centre", "round_audits", ["round_id", "centre_id", "seq"])
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
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
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    op.drop_index("ix_round_audits_centre", "round_audits")
    for table in ("round_audits", "rounds", "waiver_revocations"):
        op.drop_table(table)
    op.drop_index("ix_waivers_centre", "waivers")
    op.drop_table("waivers")
