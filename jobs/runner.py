"""Runs one claimed job through the training engine and records how it ended.

End states: succeeded; cancelled (the user asked, the engine stopped at a checkpoint);
failed with a readable reason (a user error's message, "out of memory: ...", or
"ExceptionType: message" with the traceback in the job log); interrupted when the worker is
shut down mid-run. Whatever happens, the worker lives on and takes the next job.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from jobs import config, store
from jobs.errors import JobStateError
from jobs.listener import Heartbeat, JobListener
from neat.engine.rundir import RunDir

log = logging.getLogger("jobs.runner")

OOM_HINT = "try a smaller training.batch_size or training.max_length, or a smaller model"
TRACEBACK_LINES = 30


def execute(job: dict[str, Any], host: str, pid: int) -> str:
    """Train `job` (already claimed: status running, owned by host:pid); return its end status."""
    job_id = job["id"]
    output_dir = Path(job["output_dir"] or config.runs_dir() / str(job_id))
    listener = JobListener(job, host, pid)
    with Heartbeat(job_id, host, pid, config.heartbeat_interval()):
        try:
            checkpoint = _prepare_resume(job, output_dir, host, pid)
            summary = _train(job, output_dir, listener, resume=checkpoint is not None)
        except KeyboardInterrupt:  # the worker is shutting down (SIGTERM): resumable later
            listener.flush()
            _finish(job_id, host, pid, "interrupted", "the worker was shut down while training")
            raise
        except BaseException as exc:  # noqa: B036 - every failure must end the job, not the worker
            listener.flush()
            return _on_error(job_id, host, pid, exc, listener)
        listener.flush()
    log.info("job %s summary: %s", job_id, {k: v for k, v in summary.items() if k in ("eval", "global_step")})
    return _finish(job_id, host, pid, "succeeded", None, progress=1.0, eta_seconds=0.0)


def _prepare_resume(job: dict[str, Any], output_dir: Path, host: str, pid: int) -> int | None:
    """The step of the checkpoint the engine will resume from (None: a fresh start)."""
    job_id = job["id"]
    run = RunDir(output_dir)
    broken = run.remove_incomplete_checkpoints()
    if broken:
        store.add_event(job_id, f"removed half-written checkpoints at steps {broken}", "warning")
    checkpoint = run.latest_checkpoint_step()
    if checkpoint is None:
        store.add_event(job_id, f"started on {host}:{pid} (attempt {job['attempts']})")
        return None
    # The engine resumes from this checkpoint and logs the later steps again: keep exactly the
    # points up to it (backfilled from metrics.jsonl in case the dead worker had not flushed
    # them all) so the curve stays one continuous line without duplicates.
    store.delete_metric_points_after(job_id, checkpoint)
    store.add_metric_points(job_id, run.metric_points(checkpoint))
    store.update_running(job_id, resumed_from=checkpoint)
    store.add_event(job_id, f"resuming from the checkpoint at step {checkpoint} on {host}:{pid}")
    return checkpoint


def _train(job: dict[str, Any], output_dir: Path, listener: JobListener, resume: bool) -> dict:
    from neat.engine.spec import RunSpec

    spec = RunSpec.from_dict(job["spec"]).validate()
    output_dir.mkdir(parents=True, exist_ok=True)
    import neat.engine.train  # imported here: the queue's callers never load torch

    return neat.engine.train.run(spec, output_dir, listeners=(listener,), resume=resume) or {}


def _on_error(job_id: int, host: str, pid: int, exc: BaseException, listener: JobListener) -> str:
    from neat.engine.errors import TrainingStopped, UserError

    if isinstance(exc, TrainingStopped):
        if listener.stop_reason == "lost":
            log.warning("job %s is no longer this worker's; stopped without touching it", job_id)
            return "lost"
        if listener.stop_reason == "cancel":
            return _finish(job_id, host, pid, "cancelled", None)
        return _finish(job_id, host, pid, "interrupted", "training stopped before the end")
    if isinstance(exc, (SystemExit, GeneratorExit)):
        raise exc
    oom = _out_of_memory(exc)
    if oom is not None:
        return _finish(job_id, host, pid, "failed", f"out of memory: {oom} ({OOM_HINT})")
    if isinstance(exc, UserError):
        return _finish(job_id, host, pid, "failed", str(exc) or type(exc).__name__)
    tail = "".join(traceback.format_exception(exc)).rstrip().splitlines()[-TRACEBACK_LINES:]
    _safe_event(job_id, "traceback (most recent call last, tail):\n" + "\n".join(tail), "error")
    return _finish(job_id, host, pid, "failed", f"{type(exc).__name__}: {exc}")


def _out_of_memory(exc: BaseException) -> str | None:
    """The first line of an out-of-memory error anywhere in the exception chain, else None."""
    from neat.engine.errors import OutOfMemoryError

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (MemoryError, OutOfMemoryError)) or type(exc).__name__ == "OutOfMemoryError":
            lines = str(exc).strip().splitlines()
            text = lines[0] if lines else type(exc).__name__
            prefix = "out of memory:"
            return text[len(prefix) :].strip() if text.lower().startswith(prefix) else text
        exc = exc.__cause__ or exc.__context__
    return None


def _finish(job_id: int, host: str, pid: int, status: str, error: str | None, **fields: Any) -> str:
    try:
        store.set_status(job_id, status, error=error, owner=(host, pid), **fields)
    except JobStateError as exc:  # declared dead, deleted or re-claimed meanwhile
        log.warning("job %s ended %s but could not record it: %s", job_id, status, exc)
        return "lost"
    _safe_event(job_id, status if error is None else f"{status}: {error}", "error" if error else "info")
    log.info("job %s %s%s", job_id, status, f": {error}" if error else "")
    return status


def _safe_event(job_id: int, text: str, level: str) -> None:
    try:
        store.add_event(job_id, text, level)
    except Exception:
        log.exception("job %s: could not write to the job log", job_id)
