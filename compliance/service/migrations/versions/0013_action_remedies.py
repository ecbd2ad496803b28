"""An action keeps its rectification requirement in both languages, so the 整改 page and the API give it in the
reader's language, whichever language the inspection that opened it was submitted in.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON {"zh": …, "en": …}; empty for actions opened before, and for those a batch opens (its results are
    # worded in one language), which keep the one wording in remedy.
    op.add_column("actions", sa.Column("remedy_words", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.drop_column("remedy_words")
