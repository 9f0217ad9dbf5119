"""Engines, sessions and schema upgrades.

One engine per database URL and process (a forked worker builds its own). SQLite is tuned for
several processes writing at once: WAL journal, a 30 s busy timeout, and write transactions
that take the write lock up front (BEGIN IMMEDIATE) so a read-then-write transaction never
fails with "database is locked" halfway through.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

from jobs import config

SQLITE_BUSY_TIMEOUT_S = 30.0
_MIGRATIONS = Path(__file__).parent / "migrations"

_lock = threading.Lock()
_engines: dict[tuple[str, int], Engine] = {}
_migrated: set[tuple[str, int]] = set()
_migrate_lock = threading.Lock()  # Alembic's context is module-global: one upgrade at a time


def get_engine(url: str | None = None) -> Engine:
    url = url or config.db_url()
    key = (url, os.getpid())
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _create_engine(url)
        return engine


def _create_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("neat_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _forget_engines_after_fork() -> None:
    # A forked child must not reuse the parent's pooled connections; it opens its own.
    for engine in list(_engines.values()):
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_engines_after_fork)


@contextmanager
def session(write: bool = False, url: str | None = None) -> Iterator[Session]:
    """A session for one short unit of work; commits at the end when `write` is set."""
    init_db(url)
    engine = get_engine(url)
    if write:
        engine = engine.execution_options(neat_write=True)
    with Session(engine, expire_on_commit=False) as s:
        if write:
            with s.begin():
                yield s
        else:
            yield s


def init_db(url: str | None = None) -> None:
    """Bring the schema to the newest revision (once per URL and process)."""
    url = url or config.db_url()
    key = (url, os.getpid())
    if key in _migrated:
        return
    with _migrate_lock:
        if key not in _migrated:
            upgrade(url, "head")
            _migrated.add(key)


def alembic_config(url: str | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["neat_db_url"] = url or config.db_url()
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision` (two processes may race; one waits)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
