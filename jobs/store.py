"""Every read and write of jobs, sweeps, metric points and job events.

All functions take and return plain JSON-safe values (dicts with ISO-8601 UTC times), so the
UI and the CLI never hold ORM sessions. State changes are single conditional UPDATEs
(`... WHERE status IN (allowed)`), which makes them atomic across processes and machines:
two workers cannot both claim a job, and a worker that lost its job cannot overwrite it.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from jobs import config
from jobs.db import session
from jobs.errors import JobNotFound, JobStateError
from jobs.models import END_STATES, KINDS, Job, JobEvent, MetricPoint, Sweep, utcnow
from neat.engine.rundir import RunDir

# status -> the statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "cancelled"),
    "running": ("succeeded", "failed", "cancelled", "interrupted"),
    "interrupted": ("queued",),
    "failed": ("queued",),
    "cancelled": ("queued",),
    "succeeded": (),
}
_POINT_KEY = ["job_id", "step", "split", "name"]


# ---- conversion ------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=UTC).isoformat() if value else None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _job_dict(job: Job) -> dict[str, Any]:
    data = {c.key: getattr(job, c.key) for c in Job.__table__.columns}
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = _iso(value)
    data["best_metric_value"] = _finite(job.best_metric_value)
    data["cancel_requested"] = bool(job.cancel_requested)
    data["auto_resumed"] = bool(job.auto_resumed)
    data["checkpoint_step"] = RunDir(job.output_dir).latest_checkpoint_step() if job.output_dir else None
    return data


def slugify(text: str, max_len: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].strip("-") or "run"


def _predecessors(status: str) -> list[str]:
    if status not in TRANSITIONS:
        raise ValueError(f"unknown job status {status!r}")
    return [old for old, new in TRANSITIONS.items() if status in new]


def _refuse(s, job_id: int, wanted: str) -> JobStateError:
    job = s.get(Job, job_id)
    if job is None:
        return JobNotFound(f"job {job_id} does not exist")
    return JobStateError(f"job {job_id} is {job.status}; it cannot become {wanted}")


# ---- jobs and sweeps -------------------------------------------------------------------------
def create_sweep(name: str) -> dict[str, Any]:
    with session(write=True) as s:
        sweep = Sweep(name=name, created_at=utcnow())
        s.add(sweep)
        s.flush()
        return {"id": sweep.id, "name": sweep.name, "created_at": _iso(sweep.created_at)}


def create_job(
    spec: dict[str, Any],
    name: str | None = None,
    priority: int = 0,
    sweep_id: int | None = None,
    retry_of: int | None = None,
    owner: str | None = None,
    kind: str = "train",
) -> dict[str, Any]:
    """Insert a `queued` job; its output dir is NEAT_HOME/runs/<id>-<slug of name> (an
    evaluation's: NEAT_HOME/evaluations/<id>).

    `owner`: the signed-in account that queued it (None from the CLI or without login)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    name = name or str(spec.get("name") or "run")
    with session(write=True) as s:
        job = Job(
            kind=kind,
            name=name,
            status="queued",
            spec=spec,
            priority=int(priority),
            sweep_id=sweep_id,
            retry_of=retry_of,
            owner=owner,
            created_at=utcnow(),
            progress=0.0,
            cancel_requested=False,
            attempts=0,
            auto_resumed=False,
        )
        s.add(job)
        s.flush()
        if kind == "evaluate":
            job.output_dir = str(config.evaluations_dir() / str(job.id))
        else:
            job.output_dir = str(config.runs_dir() / f"{job.id}-{slugify(name)}")
        s.flush()
        return _job_dict(job)


def get_job(job_id: int) -> dict[str, Any]:
    with session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} does not exist")
        return _job_dict(job)


def _job_filter(query, status=None, sweep_id=None, owner=None, name=None, kind=None):
    if kind is not None:
        query = query.where(Job.kind == kind)
    if owner is not None:
        query = query.where(Job.owner == owner)
    if status is not None:
        query = query.where(Job.status.in_([status] if isinstance(status, str) else list(status)))
    if sweep_id is not None:
        query = query.where(Job.sweep_id == sweep_id)
    if name:
        query = query.where(Job.name.ilike(f"%{_escape_like(name)}%", escape="\\"))
    return query


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_jobs(
    status: str | Iterable[str] | None = None,
    sweep_id: int | None = None,
    limit: int | None = None,
    owner: str | None = None,
    offset: int = 0,
    name: str | None = None,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """Jobs, newest first (only `owner`'s when given; `name`: names containing it, any case;
    `kind`: train | evaluate); `limit` and `offset` page through them."""
    query = _job_filter(select(Job), status, sweep_id, owner, name, kind).order_by(Job.id.desc())
    if offset:
        query = query.offset(int(offset))
    if limit is not None:
        query = query.limit(int(limit))
    with session() as s:
        return [_job_dict(job) for job in s.scalars(query)]


def count_jobs(
    status: str | Iterable[str] | None = None,
    sweep_id: int | None = None,
    owner: str | None = None,
    name: str | None = None,
    kind: str | None = None,
) -> int:
    """How many jobs list_jobs() would return with the same filters and no limit."""
    query = _job_filter(select(func.count(Job.id)), status, sweep_id, owner, name, kind)
    with session() as s:
        return int(s.scalar(query) or 0)


def set_status(
    job_id: int,
    status: str,
    *,
    error: str | None = None,
    owner: tuple[str, int] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Move a job to `status` if TRANSITIONS allow it (raises JobStateError otherwise).

    `owner=(host, pid)` restricts the change to the worker that runs the job, so a worker
    that was declared dead cannot overwrite what happened to the job since.
    """
    values: dict[str, Any] = {"status": status, **fields}
    if status in END_STATES:
        values.setdefault("finished_at", utcnow())
    if status in ("cancelled", "interrupted", "failed"):
        values["eta_seconds"] = None  # it will not finish: no time left to show
    if status == "queued":
        values.update(finished_at=None, error=None, cancel_requested=False, eta_seconds=None)
    if error is not None:
        values["error"] = error
    stmt = update(Job).where(Job.id == job_id, Job.status.in_(_predecessors(status)))
    if owner is not None:
        stmt = stmt.where(Job.worker_host == owner[0], Job.worker_pid == owner[1])
    with session(write=True) as s:
        if s.execute(stmt.values(**values)).rowcount != 1:
            raise _refuse(s, job_id, status)
        return _job_dict(s.get(Job, job_id))


def claim_job(job_id: int, host: str, pid: int, device: str | None = None) -> dict[str, Any] | None:
    """Atomically move a `queued` job to `running` for this worker (on `device`, e.g. `gpu:1`);
    None if it is not queued."""
    now = utcnow()
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            started_at=func.coalesce(Job.started_at, now),
            finished_at=None,
            worker_host=host,
            worker_pid=pid,
            device=device,
            heartbeat_at=now,
            attempts=Job.attempts + 1,
            cancel_requested=False,
            error=None,
        )
    )
    with session(write=True) as s:
        if s.execute(stmt).rowcount != 1:
            return None
        return _job_dict(s.get(Job, job_id))


def _owned(job_id: int, owner: tuple[str, int]):
    return (
        (Job.id == job_id)
        & (Job.status == "running")
        & (Job.worker_host == owner[0])
        & (Job.worker_pid == owner[1])
    )


def update_running(job_id: int, owner: tuple[str, int] | None = None, **fields: Any) -> None:
    """Write progress, eta_seconds, best_metric_name/value or resumed_from of a running job
    (only while it runs on `owner`=(host, pid), when given)."""
    allowed = {"progress", "eta_seconds", "best_metric_name", "best_metric_value", "resumed_from"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"update_running cannot set {sorted(unknown)}")
    values = {k: v for k, v in fields.items() if k in allowed}
    if values:
        where = _owned(job_id, owner) if owner else Job.id == job_id
        with session(write=True) as s:
            s.execute(update(Job).where(where).values(**values))


def heartbeat(job_id: int, host: str, pid: int) -> bool:
    """Record that the worker is alive; False when the job is no longer running on it."""
    stmt = update(Job).where(_owned(job_id, (host, pid))).values(heartbeat_at=utcnow())
    with session(write=True) as s:
        return s.execute(stmt).rowcount == 1


def control_state(job_id: int, host: str, pid: int) -> str:
    """What a running worker should do: 'run', 'cancel' (asked to stop) or 'lost' (not ours)."""
    with session() as s:
        row = s.execute(
            select(Job.status, Job.cancel_requested, Job.worker_host, Job.worker_pid).where(Job.id == job_id)
        ).first()
    if row is None or row.status != "running" or (row.worker_host, row.worker_pid) != (host, pid):
        return "lost"
    return "cancel" if row.cancel_requested else "run"


def request_cancel(job_id: int) -> dict[str, Any]:
    """Cancel a job: a queued one at once, a running one by flagging it for its worker."""
    now = utcnow()
    with session(write=True) as s:
        queued = update(Job).where(Job.id == job_id, Job.status == "queued")
        if s.execute(queued.values(status="cancelled", finished_at=now)).rowcount == 1:
            s.add(JobEvent(job_id=job_id, time=now, level="info", text="cancelled while queued"))
            return _job_dict(s.get(Job, job_id))
        running = update(Job).where(Job.id == job_id, Job.status == "running")
        if s.execute(running.values(cancel_requested=True)).rowcount == 1:
            s.add(JobEvent(job_id=job_id, time=now, level="info", text="cancel requested"))
            return _job_dict(s.get(Job, job_id))
        job = s.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} does not exist")
        raise JobStateError(f"job {job_id} is {job.status}; only queued or running jobs can be cancelled")


def requeue(job_id: int, **fields: Any) -> dict[str, Any]:
    """interrupted/failed/cancelled -> queued, keeping id and output dir (for resume/auto-resume)."""
    return set_status(job_id, "queued", **fields)


def mark_stale_running_as_interrupted(timeout_s: float) -> list[int]:
    """Running jobs whose heartbeat is older than `timeout_s` lost their worker (killed, crashed,
    machine gone): they become `interrupted` (or `cancelled` if a cancel was pending)."""
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    stale = (Job.status == "running") & ((Job.heartbeat_at.is_(None)) | (Job.heartbeat_at < cutoff))
    changed = []
    with session(write=True) as s:
        for job in s.scalars(select(Job).where(stale)).all():
            now = utcnow()
            status = "cancelled" if job.cancel_requested else "interrupted"
            reason = (
                f"worker {job.worker_host}:{job.worker_pid} stopped responding "
                f"(no heartbeat for {timeout_s:g} s)"
            )
            stmt = update(Job).where(Job.id == job.id, stale)
            if (
                s.execute(
                    stmt.values(status=status, finished_at=now, error=reason, eta_seconds=None)
                ).rowcount
                == 1
            ):
                s.add(JobEvent(job_id=job.id, time=now, level="warning", text=f"{reason}; marked {status}"))
                changed.append(job.id)
    return changed


def queued_jobs() -> list[dict[str, Any]]:
    """(id, priority) of every queued job, oldest first."""
    with session() as s:
        rows = s.execute(select(Job.id, Job.priority).where(Job.status == "queued").order_by(Job.id))
        return [{"id": r.id, "priority": r.priority} for r in rows]


def delete_job(job_id: int, keep_files: bool = False) -> None:
    """Delete a job that is not running, with its metrics and events, and its output dir unless
    `keep_files` (the folder then stays on disk, adapter and checkpoints included)."""
    with session(write=True) as s:
        job = s.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} does not exist")
        if job.status == "running":
            raise JobStateError(f"job {job_id} is running; cancel it before deleting it")
        output_dir = job.output_dir
        s.execute(delete(MetricPoint).where(MetricPoint.job_id == job_id))
        s.execute(delete(JobEvent).where(JobEvent.job_id == job_id))
        s.execute(delete(Job).where(Job.id == job_id, Job.status != "running"))
    if output_dir and not keep_files:
        path = Path(output_dir).resolve()
        roots = (config.runs_dir().resolve(), config.evaluations_dir().resolve())
        if any(root in path.parents for root in roots) and path.is_dir():  # never outside them
            shutil.rmtree(path, ignore_errors=True)


# ---- metrics and events ----------------------------------------------------------------------
def _insert_ignoring_duplicates(s, rows: list[dict[str, Any]]) -> None:
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise NotImplementedError(f"metric points need SQLite or PostgreSQL, not {dialect}")
    stmt = insert(MetricPoint.__table__).on_conflict_do_nothing(index_elements=_POINT_KEY)
    s.execute(stmt, rows)


def add_metric_points(
    job_id: int, points: Iterable[dict[str, Any]], owner: tuple[str, int] | None = None
) -> int:
    """Store many points in one transaction. A point whose (step, split, name) is already stored
    is ignored, so a resumed run that logs a step again cannot duplicate it. NaN and infinite
    values are stored as NULL. With `owner`=(host, pid), nothing is stored unless the job still
    runs there (a worker declared dead must not write into the curve of the run that replaced
    it). Returns the number of points sent (0 when refused)."""
    now = utcnow()
    rows = [
        {
            "job_id": job_id,
            "step": int(p["step"]),
            "epoch": None if p.get("epoch") is None else float(p["epoch"]),
            "split": str(p.get("split") or "train"),
            "name": str(p["name"]),
            "value": _finite(float(p["value"])),
            "time": p.get("time") or now,
        }
        for p in points
    ]
    if not rows:
        return 0
    with session(write=True) as s:
        if owner and s.execute(select(Job.id).where(_owned(job_id, owner)).with_for_update()).first() is None:
            return 0
        _insert_ignoring_duplicates(s, rows)
    return len(rows)


def delete_metric_points_after(job_id: int, step: int) -> int:
    """Forget points logged after `step` (a resume from that checkpoint logs them again)."""
    with session(write=True) as s:
        stmt = delete(MetricPoint).where(MetricPoint.job_id == job_id, MetricPoint.step > step)
        return s.execute(stmt).rowcount


def get_metrics(job_id: int, split: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Metric points ordered by step: {step, epoch, split, name, value, time}."""
    query = select(MetricPoint).where(MetricPoint.job_id == job_id)
    if split is not None:
        query = query.where(MetricPoint.split == split)
    if name is not None:
        query = query.where(MetricPoint.name == name)
    query = query.order_by(MetricPoint.step, MetricPoint.split, MetricPoint.name)
    with session() as s:
        return [
            {
                "step": p.step,
                "epoch": p.epoch,
                "split": p.split,
                "name": p.name,
                "value": _finite(p.value),
                "time": _iso(p.time),
            }
            for p in s.scalars(query)
        ]


def add_event(job_id: int, text: str, level: str = "info") -> None:
    with session(write=True) as s:
        s.add(JobEvent(job_id=job_id, time=utcnow(), level=level, text=text))


def get_events(job_id: int, tail: int | None = 200, after_id: int | None = None) -> list[dict[str, Any]]:
    """The job's log lines, oldest first: the last `tail` ones, or all after `after_id`."""
    query = select(JobEvent).where(JobEvent.job_id == job_id)
    if after_id is not None:
        query = query.where(JobEvent.id > after_id)
    query = query.order_by(JobEvent.id.desc())
    if tail is not None:
        query = query.limit(tail)
    with session() as s:
        events = [
            {"id": e.id, "time": _iso(e.time), "level": e.level, "text": e.text} for e in s.scalars(query)
        ]
    return events[::-1]
