"""The dashboard at a province's size: a small table of each centre's latest audit, kept with every audit stored.

Grouping 100,000 audits to find every centre's latest on each page view, and reading the round each belongs to out
of its result document, cost more than a page may. ``dashboard_latest`` holds, for each rule set, each centre's
latest audit: of any kind and of each kind, in any round and in the round it names. It is filled here from the
audits already stored (oldest first, so the newest stays) and written by the store in the same transaction as
every audit after this. The audits table itself is untouched: its append-only triggers stay as they are.

Revision ID: 0011
Revises: 0010
"""
import orjson
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SCOPE = ["ruleset_id", "round", "kind"]


def upgrade() -> None:
    op.create_table(
        "dashboard_latest",
        sa.Column("ruleset_id", sa.String(200), primary_key=True),
        sa.Column("round", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("centre_id", sa.String(200), primary_key=True),
        sa.Column("audit_id", sa.String(32), nullable=False),
        sa.Column("centre_name", sa.Text, nullable=False),
        sa.Column("street", sa.Text, nullable=False),
        sa.Column("grade", sa.String(50), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sqlite_with_rowid=False,          # on SQLite the rows themselves in key order: a page is one range read
    )
    op.create_index("ix_dashboard_latest_street", "dashboard_latest", [*_SCOPE, "street", "grade", "centre_id"])
    op.create_index("ix_dashboard_latest_grade", "dashboard_latest", [*_SCOPE, "grade", "centre_id"])
    op.create_index("ix_dashboard_latest_verdict", "dashboard_latest", [*_SCOPE, "verdict", "centre_id"])
    _fill()


def _fill() -> None:
    """Every stored audit, oldest first, made the latest of its rows: the newest of each stays."""
    db = op.get_bind()
    rows: dict[tuple[str, ...], dict[str, str]] = {}
    query = sa.text("SELECT id, centre_id, centre_name, ruleset_id, COALESCE(kind, 'self_check') AS kind, street, "
                    "grade, verdict, result FROM audits ORDER BY seq")
    for a in db.execute(query, execution_options={"stream_results": True, "yield_per": 2000}):
        round_id = ""
        result = bytes(a.result)
        if b'"round"' in result:                      # only then is the document worth reading
            try:
                block = orjson.loads(result).get("audit")
                value = block.get("round") if isinstance(block, dict) else None
                round_id = value.strip()[:64] if isinstance(value, str) else ""
            except (orjson.JSONDecodeError, AttributeError):
                round_id = ""
        for r in ("", round_id) if round_id else ("",):
            for k in ("", a.kind):
                rows[(a.ruleset_id, r, k, a.centre_id)] = {
                    "ruleset_id": a.ruleset_id, "round": r, "kind": k, "centre_id": a.centre_id, "audit_id": a.id,
                    "centre_name": a.centre_name, "street": a.street, "grade": a.grade, "verdict": a.verdict}
    table = sa.table("dashboard_latest", *(sa.column(c) for c in (*_SCOPE, "centre_id", "audit_id", "centre_name",
                                                                   "street", "grade", "verdict")))
    values = list(rows.values())
    for start in range(0, len(values), 1000):
        db.execute(table.insert(), values[start:start + 1000])


def downgrade() -> None:
    for name in ("ix_dashboard_latest_verdict", "ix_dashboard_latest_grade", "ix_dashboard_latest_street"):
        op.drop_index(name, "dashboard_latest")
    op.drop_table("dashboard_latest")
