"""The database tables (SQLAlchemy 2 ORM). Times are naive UTC datetimes.

Schema changes go through an Alembic revision in jobs/migrations/versions; a test checks that
the migrated schema matches these classes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

KINDS = ("train", "evaluate")  # what a job does (revision 0005)
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
END_STATES = ("succeeded", "failed", "cancelled", "interrupted")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


# AUTOINCREMENT on SQLite (revision 0006): a deleted job's id is never handed to a new one.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class Sweep(Base):
    __tablename__ = "sweeps"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True, default="queued")
    spec: Mapped[dict] = mapped_column(JSON)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    best_metric_name: Mapped[str | None] = mapped_column(String(100))
    best_metric_value: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    output_dir: Mapped[str | None] = mapped_column(Text)
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Added by revision 0002 (resume bookkeeping):
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    resumed_from: Mapped[int | None] = mapped_column(Integer)  # checkpoint step of the last resume
    auto_resumed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    retry_of: Mapped[int | None] = mapped_column(Integer)  # the job this one retries
    # Added by revision 0003: the account that queued the job (None: CLI or no login).
    owner: Mapped[str | None] = mapped_column(String(200), index=True)
    # Added by revision 0004: where the job last ran, `gpu:N` or `cpu`
    device: Mapped[str | None] = mapped_column(String(64))
    # Added by revision 0005: `train` or `evaluate` (KINDS)
    kind: Mapped[str] = mapped_column(String(16), default="train", server_default="train")


class MetricPoint(Base):
    __tablename__ = "metric_points"
    __table_args__ = (UniqueConstraint("job_id", "step", "split", "name", name="uq_metric_point"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[float | None] = mapped_column(Float)
    split: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)  # NaN/inf are stored as NULL
    time: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class JobEvent(Base):
    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(16), default="info")
    text: Mapped[str] = mapped_column(Text)
