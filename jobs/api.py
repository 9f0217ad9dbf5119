"""The jobs facade used by the UI and the CLI (see docs/CONTRACTS.md).

Everything returns plain JSON-safe values. Errors a user can cause (an invalid spec, resuming a
job that has no checkpoint, deleting a running job) raise `neat.engine.errors.UserError` subclasses
whose message can be shown as it is. A failed job never blocks the queue: the next one runs.
"""

from __future__ import annotations

import logging
from typing import Any

from jobs import queue, store
from jobs.errors import JobNotFound, JobStateError
from neat.engine.errors import UserError
from neat.engine.rundir import RunDir
from neat.engine.spec import RunSpec

log = logging.getLogger("jobs.api")

__all__ = [
    "JobNotFound",
    "JobStateError",
    "QueueUnavailable",
    "StoreUnavailable",
    "cancel",
    "count_jobs",
    "delete",
    "deletion_plan",
    "get_job",
    "get_logs",
    "get_metrics",
    "list_jobs",
    "resume",
    "retry",
    "submit",
    "submit_evaluation",
    "submit_sweep",
]

RESUMABLE = ("interrupted", "cancelled", "failed")
RETRYABLE = ("succeeded", "failed", "cancelled", "interrupted")


class QueueUnavailable(UserError):
    """The job is stored but its id could not be put on the queue (e.g. Redis is down)."""


class StoreUnavailable(UserError):
    """The job store refused the write (disk full, database down); nothing was queued."""


def _write(write, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A store write for a new job or sweep, with a store failure (e.g. a full disk) as one line."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return write(*args, **kwargs)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if "disk" in reason.lower() and "full" in reason.lower():
            reason = f"disk full ({reason})"
        raise StoreUnavailable(f"could not save the job: {reason}; nothing was queued") from exc


def _as_spec(spec: RunSpec | dict[str, Any]) -> RunSpec:
    spec = spec if isinstance(spec, RunSpec) else RunSpec.from_dict(spec)
    return spec.validate()


def _enqueue(job: dict[str, Any]) -> None:
    try:
        queue.enqueue(job["id"], job["priority"])
    except Exception as exc:
        store.add_event(job["id"], f"could not reach the queue: {exc}", "warning")
        raise QueueUnavailable(
            f"job {job['id']} is saved but the queue could not be reached ({exc}); "
            "it will be queued when a worker starts"
        ) from exc


def submit(
    spec: RunSpec | dict[str, Any], priority: int = 0, sweep: int | None = None, owner: str | None = None
) -> int:
    """Validate `spec` (raises SpecError naming every bad field), store it as a queued job and
    enqueue it. Higher `priority` runs first; `owner` is the account that queues it (None from
    the CLI or without login). Returns the job id."""
    spec = _as_spec(spec)
    job = _write(
        store.create_job, spec.to_dict(), name=spec.name, priority=priority, sweep_id=sweep, owner=owner
    )
    _enqueue(job)
    return job["id"]


def submit_sweep(
    specs: list[RunSpec | dict[str, Any]], name: str, priority: int = 0, owner: str | None = None
) -> list[int]:
    """Submit several specs as one named sweep; all are validated before any is queued."""
    checked = [_as_spec(spec) for spec in specs]
    sweep = _write(store.create_sweep, name)
    return [submit(spec, priority=priority, sweep=sweep["id"], owner=owner) for spec in checked]


def submit_evaluation(
    run_job_id: int,
    data: str | None = None,
    columns: dict[str, str] | None = None,
    batch_size: int = 32,
    owner: str | None = None,
    any_owner: bool = False,
) -> int:
    """Queue an evaluation of the succeeded training job `run_job_id` on `data` (a file, folder
    or hub id; None: the run's own held-out test split) with `columns` ({role: column}; None:
    the run's own). Everything knowable is checked first (jobs/evaluation.py), so a bad request
    raises and queues nothing. `owner` may score only its own runs unless `any_owner`.
    Returns the evaluation job's id; its results go to NEAT_HOME/evaluations/<id>/."""
    from jobs import evaluation

    spec, run = evaluation.check_request(run_job_id, data, columns, batch_size, owner, any_owner)
    job = _write(
        store.create_job, spec, name=evaluation.job_name(run, spec["data"]), owner=owner, kind=evaluation.KIND
    )
    _enqueue(job)
    return job["id"]


def list_jobs(
    status: str | list[str] | None = None,
    sweep: int | None = None,
    limit: int | None = None,
    owner: str | None = None,
    offset: int = 0,
    name: str | None = None,
    kind: str | None = None,
) -> list[dict]:
    """Jobs, newest first (optionally only some statuses, one sweep, one owner's, names
    containing `name`, or one kind: train | evaluate); `limit`/`offset` give one page of them."""
    return store.list_jobs(
        status=status, sweep_id=sweep, limit=limit, owner=owner, offset=offset, name=name, kind=kind
    )


def count_jobs(
    status: str | list[str] | None = None,
    sweep: int | None = None,
    owner: str | None = None,
    name: str | None = None,
    kind: str | None = None,
) -> int:
    """How many jobs list_jobs() finds with the same filters (for paging)."""
    return store.count_jobs(status=status, sweep_id=sweep, owner=owner, name=name, kind=kind)


def get_job(job_id: int) -> dict[str, Any]:
    """One job: status, progress, eta_seconds, best metric, error, output_dir, spec, checkpoint_step..."""
    return store.get_job(job_id)


def get_metrics(job_id: int, split: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Metric points ordered by step: {step, epoch, split, name, value, time}."""
    return store.get_metrics(job_id, split=split, name=name)


def get_logs(job_id: int, tail: int | None = 200, after_id: int | None = None) -> list[dict[str, Any]]:
    """The job's log lines, oldest first: {id, time, level, text}."""
    store.get_job(job_id)  # raises JobNotFound
    return store.get_events(job_id, tail=tail, after_id=after_id)


def cancel(job_id: int) -> dict[str, Any]:
    """A queued job is cancelled at once (its queue entry is skipped); a running one is asked
    to stop and ends `cancelled` after saving a checkpoint."""
    return store.request_cancel(job_id)


def resume(job_id: int) -> dict[str, Any]:
    """Queue an interrupted, cancelled or failed job again under the same id and output dir;
    it continues from its newest checkpoint and its metric curve goes on where it stopped."""
    job = store.get_job(job_id)
    if job["status"] not in RESUMABLE:
        raise JobStateError(
            f"job {job_id} is {job['status']}; only {', '.join(RESUMABLE)} jobs can be resumed"
        )
    if job["checkpoint_step"] is None:
        raise JobStateError(f"job {job_id} has no checkpoint to resume from; use retry to start it over")
    job = store.requeue(job_id)
    store.add_event(job_id, f"resume requested from the checkpoint at step {job['checkpoint_step']}")
    _enqueue(job)
    return job


def retry(job_id: int) -> int:
    """Start a finished job over as a new job with the same spec, priority and sweep."""
    job = store.get_job(job_id)
    if job["status"] not in RETRYABLE:
        raise JobStateError(f"job {job_id} is {job['status']}; wait for it to end (or cancel it) first")
    if job.get("kind") == "evaluate":  # checked again: the run may have gone since
        from jobs import evaluation

        s = job["spec"]
        spec, _ = evaluation.check_request(s["run_job"], s.get("data"), s.get("columns"), s["batch_size"])
    else:
        spec = _as_spec(job["spec"]).to_dict()
    new = _write(
        store.create_job,
        spec,
        name=job["name"],
        priority=job["priority"],
        sweep_id=job["sweep_id"],
        retry_of=job_id,
        owner=job.get("owner"),
        kind=job.get("kind") or "train",
    )
    store.add_event(new["id"], f"retry of job {job_id}")
    _enqueue(new)
    return new["id"]


def deletion_plan(job_id: int) -> dict[str, Any]:
    """What delete(job_id) removes: the job and its run folder's contents (exists, adapter,
    checkpoints, bytes) and `folder`, its path; `running` when it cannot be deleted yet."""
    job = store.get_job(job_id)
    folder = job.get("output_dir")
    contents = (
        RunDir(folder).contents()
        if folder
        else {"exists": False, "adapter": False, "checkpoints": 0, "bytes": 0}
    )
    return {"id": job_id, "name": job["name"], "status": job["status"], "folder": folder, **contents}


def delete(job_id: int, keep_files: bool = False) -> None:
    """Delete a job that is not running, with its metrics and log, and its output folder
    unless `keep_files` (then only the job's row goes; the adapter and checkpoints stay).
    A training job's evaluations are kept (their results are in their own folders); their
    logs say so."""
    kind = store.get_job(job_id).get("kind")
    store.delete_job(job_id, keep_files=keep_files)
    if kind == "train":
        from jobs import evaluation

        evaluation.note_run_deleted(job_id)
