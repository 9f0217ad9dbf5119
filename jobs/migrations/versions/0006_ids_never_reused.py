"""Job and sweep ids are never reused: SQLite tables with AUTOINCREMENT.

Without it SQLite hands the id of the newest row, once deleted, to the next job. A page or a
browser that still holds that id would then show another job, and an evaluation's folder
(NEAT_HOME/evaluations/<id>) could be reused. PostgreSQL's sequences never reuse an id, so
this revision changes nothing there. The tables are re-created with their rows (batch mode;
env.py turns foreign keys off meanwhile so no metric point or event is lost).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("sweeps", "jobs")


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
