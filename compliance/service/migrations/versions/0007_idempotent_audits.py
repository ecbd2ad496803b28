"""Submitting is idempotent: an audit remembers its kind and a digest of the profile as parsed, so one identical
to its centre's latest is recognised and not stored again; an API client's Idempotency-Key is kept for 24 hours
with the answer it got. An audit also keeps the clauses that vetoed it, for the dashboard, and a batch how many
audits it added to the histories.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New nullable columns need no rewrite of the table, so the append-only triggers stay as they are; an audit
    # stored before this migration has none of them, and the store works them out from its stored bytes.
    op.add_column("audits", sa.Column("kind", sa.String(20)))
    op.add_column("audits", sa.Column("profile_digest", sa.String(64)))
    op.add_column("audits", sa.Column("vetoed", sa.Text))
    op.create_index("ix_audits_rules", "audits", ["ruleset_id", "centre_id", "seq"])
    op.add_column("batches", sa.Column("added", sa.Integer))
    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("audit_id", sa.String(32), nullable=False),
        sa.Column("warnings", sa.LargeBinary),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created", "idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("added")
    op.drop_index("ix_audits_rules", "audits")
    # A plain DROP COLUMN (SQLite 3.35 and later), not a copy of the table, which would lose its triggers.
    for column in ("vetoed", "profile_digest", "kind"):
        op.drop_column("audits", column)
