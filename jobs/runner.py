"""Runs one claimed job through the training engine and records how it ended.

End states: succeeded; cancelled (the user asked, the engine stopped at a checkpoint);
failed with a readable reason (a user error's message, "out of memory: ...", or
"ExceptionType: message" with the traceback in the job log); interrupted when the worker is
shut down mid-run. Whatever happens, the worker lives on and takes the next job.
"""

from __future__ import annotations

import logging
import time
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
DISK_FULL_RETRIES = 30  # one a second: the store may sit on the disk that filled up
LOW_SPACE_BYTES = 16 * 2**20


def disk_full(exc: BaseException, output_dir: Path) -> str | None:
    """ "disk full (no space left on PATH)" when `exc` comes from a full disk, else None.

    An OSError with ENOSPC anywhere in the chain says so; torch and safetensors report a failed
    write in other words, so a write error with (almost) no space left on the run's disk counts.
    """
    import errno
    import shutil

    seen, chain = set(), exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        if isinstance(chain, OSError) and chain.errno == errno.ENOSPC:
            return f"disk full (no space left on {chain.filename or output_dir})"
        if "no space left" in str(chain).lower():
            return f"disk full (no space left on {output_dir})"
        chain = chain.__cause__ or chain.__context__
    write_error = isinstance(exc, OSError) or "write" in str(exc).lower()
    try:
        low = (
            shutil.disk_usage(output_dir if output_dir.exists() else output_dir.parent).free < LOW_SPACE_BYTES
        )
    except OSError:
        low = False
    return f"disk full (no space left on {output_dir})" if write_error and low else None


def _safe_flush(listener: JobListener) -> None:
    try:
        listener.flush()
    except Exception:  # noqa: BLE001 - the points stay in metrics.jsonl for a resume to backfill
        log.warning("job %s: could not store the last metric points", listener.job_id)


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
            full = disk_full(exc, output_dir)
            if full is not None:  # free what the failed save took, so the end can be recorded
                RunDir(output_dir).remove_incomplete_checkpoints()
                _safe_flush(listener)
                return _finish(job_id, host, pid, "failed", full, retries=DISK_FULL_RETRIES)
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
    where = _where(job, host, pid)
    if checkpoint is None:
        store.add_event(job_id, f"started on {where} (attempt {job['attempts']})")
        return None
    # The engine resumes from this checkpoint and logs the later steps again: keep exactly the
    # points up to it (backfilled from metrics.jsonl in case the dead worker had not flushed
    # them all) so the curve stays one continuous line without duplicates.
    store.delete_metric_points_after(job_id, checkpoint)
    store.add_metric_points(job_id, run.metric_points(checkpoint))
    store.update_running(job_id, resumed_from=checkpoint)
    store.add_event(job_id, f"resuming from the checkpoint at step {checkpoint} on {where}")
    return checkpoint


def _where(job: dict[str, Any], host: str, pid: int) -> str:
    """host:pid and the device; with the processes of a data-parallel job."""
    from jobs.devices import devices_wanted

    processes = devices_wanted(job)
    spread = f", {processes} processes" if processes > 1 else ""
    return f"{host}:{pid}{spread}, {job.get('device') or 'cpu'}"


def _train(job: dict[str, Any], output_dir: Path, listener: JobListener, resume: bool) -> dict:
    from neat.engine.spec import RunSpec

    spec = RunSpec.from_dict(job["spec"]).validate()
    output_dir.mkdir(parents=True, exist_ok=True)
    from neat.engine.errors import OutOfMemoryError
    from neat.engine.fit import halved_micro_batch, release_memory

    try:
        return _run_engine(job, spec, output_dir, listener, resume)
    except OutOfMemoryError as exc:
        smaller = halved_micro_batch(spec)
        if smaller is None:
            raise
        first_try = _batch_words(spec)
        listener.flush()
        release_memory()
        # Go on from the last checkpoint, if any: the same effective batch takes the same steps.
        checkpoint = RunDir(output_dir).latest_checkpoint_step()
        store.delete_metric_points_after(job["id"], checkpoint or 0)
        store.add_event(
            job["id"],
            f"{exc} with {first_try}: retrying once with {_batch_words(smaller)}"
            + (f", from the checkpoint at step {checkpoint}" if checkpoint else ""),
            "warning",
        )
    try:
        return _run_engine(job, smaller, output_dir, listener, resume=True)
    except OutOfMemoryError as exc:
        raise OutOfMemoryError(f"{exc}, also after retrying with {_batch_words(smaller)}") from exc


def _run_engine(job: dict[str, Any], spec, output_dir: Path, listener: JobListener, resume: bool) -> dict:
    """The engine in this process, or data-parallel on training.num_devices processes."""
    if spec.training.num_devices > 1:
        from jobs import distributed

        return distributed.train(job, spec, output_dir, listener, resume)
    import neat.engine.train  # imported here: the queue's callers never load torch

    return neat.engine.train.run(spec, output_dir, listeners=(listener,), resume=resume) or {}


def _batch_words(spec) -> str:
    t = spec.training
    effective = t.batch_size * t.grad_accum * t.num_devices
    devices = f" x {t.num_devices} devices" if t.num_devices > 1 else ""
    return f"micro-batch {t.batch_size} x {t.grad_accum} accumulation{devices} (effective batch {effective})"


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
    from jobs.distributed import RankFailed

    if isinstance(exc, RankFailed):  # the failing rank's own traceback, not this process's
        _safe_event(job_id, "traceback of the failed process (tail):\n" + "\n".join(exc.traceback), "error")
        return _finish(job_id, host, pid, "failed", exc.reason)
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


def _finish(
    job_id: int, host: str, pid: int, status: str, error: str | None, retries: int = 0, **fields: Any
) -> str:
    from sqlalchemy.exc import OperationalError

    for attempt in range(retries + 1):
        try:
            store.set_status(job_id, status, error=error, owner=(host, pid), **fields)
            break
        except JobStateError as exc:  # declared dead, deleted or re-claimed meanwhile
            log.warning("job %s ended %s but could not record it: %s", job_id, status, exc)
            return "lost"
        except OperationalError as exc:  # e.g. the store's own disk is full: wait for space
            if attempt == retries:
                raise
            log.warning("job %s: could not record %s yet (%s); retrying", job_id, status, exc.orig)
            time.sleep(1.0)
    _safe_event(job_id, status if error is None else f"{status}: {error}", "error" if error else "info")
    log.info("job %s %s%s", job_id, status, f": {error}" if error else "")
    return status


def _safe_event(job_id: int, text: str, level: str) -> None:
    try:
        store.add_event(job_id, text, level)
    except Exception:
        log.exception("job %s: could not write to the job log", job_id)
