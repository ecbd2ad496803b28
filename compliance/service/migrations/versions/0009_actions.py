"""Actions, the live rectification ledger (整改台账): one a centre's clause an inspection found short, and its
events, append-only like audits. An action's row changes only together with an event appended for it (the
database checks that the event is there and says the same state and due date), and is never removed.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)

# The row changes only with its next event, which must already be stored and say the row's new state (and, when
# the due date moves, be the due_changed event giving it); what the action is about never changes.
_CHANGED_WITHOUT_EVENT = (
    "NEW.version IS NOT OLD.version + 1 OR NEW.seq IS NOT OLD.seq OR NEW.id IS NOT OLD.id "
    "OR NEW.centre_id IS NOT OLD.centre_id OR NEW.ruleset_id IS NOT OLD.ruleset_id OR NEW.clause IS NOT OLD.clause "
    "OR NEW.opened_by IS NOT OLD.opened_by OR NEW.opened_on IS NOT OLD.opened_on "
    "OR NOT EXISTS (SELECT 1 FROM action_events e WHERE e.action_id = NEW.id AND e.version = NEW.version "
    "AND e.state = NEW.state AND (NEW.due = OLD.due OR (e.kind = 'due_changed' AND e.due = NEW.due)))")
_OPENED_WITHOUT_EVENT = (
    "NEW.version IS NOT 1 OR NOT EXISTS (SELECT 1 FROM action_events e WHERE e.action_id = NEW.id "
    "AND e.version = 1 AND e.kind = 'opened' AND e.state = NEW.state)")


def upgrade() -> None:
    op.create_table(
        "action_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("audit_id", sa.String(32)),
        sa.Column("note", sa.Text),
        sa.Column("evidence", sa.Text),
        sa.Column("due", sa.String(10)),
        sa.UniqueConstraint("action_id", "version", name="uq_action_events_version"),
    )
    op.create_table(
        "actions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("centre_id", sa.String(200), nullable=False),
        sa.Column("centre_name", sa.Text, nullable=False),
        sa.Column("street", sa.Text, nullable=False),
        sa.Column("ruleset_id", sa.String(200), nullable=False),
        sa.Column("clause", sa.String(100), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("veto", sa.Boolean, nullable=False),
        sa.Column("found", sa.String(10), nullable=False),
        sa.Column("amount", sa.Float),
        sa.Column("unit", sa.String(50)),
        sa.Column("missing", sa.Text),
        sa.Column("remedy", sa.Text, nullable=False),
        sa.Column("round", sa.String(64)),
        sa.Column("opened_by", sa.String(32), nullable=False),
        sa.Column("opened_on", sa.String(10), nullable=False),
        sa.Column("opened_at", _TZ, nullable=False),
        sa.Column("due", sa.String(10), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("ended_by", sa.String(32)),
        sa.Column("recurred", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_actions_centre", "actions", ["centre_id", "ruleset_id", "clause"])
    op.create_index("ix_actions_state_due", "actions", ["state", "due"])
    op.create_index("ix_actions_round", "actions", ["round", "state"])
    # Three indexes, each costing every stored inspection: the centre's actions (read as each audit is stored),
    # the ledger's order (state, due date) and a round's. One live action a clause is kept by the store writing
    # audits one at a time (its write lock), not by a unique index.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER action_events_no_{verb.lower()} BEFORE {verb} ON action_events "
                       "BEGIN SELECT RAISE(ABORT, 'action events are append-only'); END")
        op.execute("CREATE TRIGGER actions_no_delete BEFORE DELETE ON actions "
                   "BEGIN SELECT RAISE(ABORT, 'actions are never removed'); END")
        op.execute(f"CREATE TRIGGER actions_change_with_event BEFORE UPDATE ON actions WHEN {_CHANGED_WITHOUT_EVENT} "
                   "BEGIN SELECT RAISE(ABORT, 'an action changes only with an event appended'); END")
        op.execute(f"CREATE TRIGGER actions_open_with_event BEFORE INSERT ON actions WHEN {_OPENED_WITHOUT_EVENT} "
                   "BEGIN SELECT RAISE(ABORT, 'an action opens only with its opened event'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION action_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'action events are append-only'; END $$")
        op.execute("CREATE TRIGGER action_events_append_only BEFORE UPDATE OR DELETE ON action_events "
                   "FOR EACH ROW EXECUTE FUNCTION action_events_append_only()")
        op.execute(f"""CREATE FUNCTION actions_with_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'actions are never removed'; END IF;
            IF TG_OP = 'INSERT' THEN
                IF {_OPENED_WITHOUT_EVENT.replace('IS NOT 1', 'IS DISTINCT FROM 1')} THEN
                    RAISE EXCEPTION 'an action opens only with its opened event'; END IF;
            ELSIF {_CHANGED_WITHOUT_EVENT.replace('IS NOT', 'IS DISTINCT FROM')} THEN
                RAISE EXCEPTION 'an action changes only with an event appended'; END IF;
            RETURN NEW; END $$""")
        op.execute("CREATE TRIGGER actions_with_events BEFORE INSERT OR UPDATE OR DELETE ON actions "
                   "FOR EACH ROW EXECUTE FUNCTION actions_with_events()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("action_events_no_update", "action_events_no_delete", "actions_no_delete",
                     "actions_change_with_event", "actions_open_with_event"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS actions_with_events ON actions")
        op.execute("DROP FUNCTION IF EXISTS actions_with_events()")
        op.execute("DROP TRIGGER IF EXISTS action_events_append_only ON action_events")
        op.execute("DROP FUNCTION IF EXISTS action_events_append_only()")
    op.drop_table("actions")
    op.drop_table("action_events")
