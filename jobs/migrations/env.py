"""Alembic environment, driven from code (jobs.db.upgrade); no alembic.ini is needed.

All revisions run in one transaction that first takes a lock, so several workers starting
at once migrate the database exactly once: SQLite's BEGIN IMMEDIATE write lock, or a
PostgreSQL advisory lock.
"""

from alembic import context
from sqlalchemy import text

from jobs.db import get_engine
from jobs.models import Base

MIGRATION_LOCK_ID = 7_401_2024  # any constant shared by every NEAT Studio process

url = context.config.attributes["neat_db_url"]
engine = get_engine(url).execution_options(neat_write=True)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration re-creates a table (copy, DROP, rename): with foreign keys on, the
        # DROP would cascade and delete every metric point and event. The pragma only takes
        # effect outside a transaction, so it is set before BEGIN.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
