"""Resume bookkeeping on jobs: attempts, resumed_from, auto_resumed, retry_of.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: SQLite does them in place, without re-creating the table.
    op.add_column("jobs", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("jobs", sa.Column("resumed_from", sa.Integer, nullable=True))
    op.add_column("jobs", sa.Column("auto_resumed", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("jobs", sa.Column("retry_of", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for column in ("retry_of", "auto_resumed", "resumed_from", "attempts"):
            batch.drop_column(column)
