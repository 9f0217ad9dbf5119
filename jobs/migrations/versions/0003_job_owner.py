"""The account that queued each job (NEAT_AUTH user name; NULL for the CLI or no login).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("owner", sa.String(200), nullable=True))
    op.create_index("ix_jobs_owner", "jobs", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_jobs_owner", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("owner")
