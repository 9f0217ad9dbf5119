"""The job queue: a Huey instance chosen by NEAT_QUEUE_URL, and its one task, `run_job`.

The queue only carries job ids; the database is the truth. A task claims its job with one
conditional UPDATE (queued -> running), so a job runs exactly once even when its id was
enqueued twice (re-enqueued after a lost queue, or two workers recovering at once) and a job
cancelled or deleted while queued is simply skipped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

from huey import Huey, PriorityRedisHuey, SqliteHuey

from jobs import config, store

log = logging.getLogger("jobs.queue")
TASK_NAME = "run_job"
SQLITE_QUEUE_TIMEOUT_S = 30.0

_lock = threading.Lock()
_hueys: dict[tuple[str, str], Huey] = {}
_tasks: dict[int, object] = {}  # id(huey) -> its run_job task wrapper


def get_huey(url: str | None = None) -> Huey:
    """The Huey instance for NEAT_QUEUE_URL (one per URL and queue name), with run_job registered."""
    url = url or config.queue_url()
    key = (url, config.queue_name())
    with _lock:
        huey = _hueys.get(key)
        if huey is None:
            huey = _hueys[key] = _make_huey(url, key[1])
            _tasks[id(huey)] = huey.task(name=TASK_NAME)(run_job)
        return huey


def _make_huey(url: str, name: str) -> Huey:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return PriorityRedisHuey(name, url=url, results=False)  # priorities need Redis >= 5
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False, timeout=SQLITE_QUEUE_TIMEOUT_S)
    raise ValueError(f"NEAT_QUEUE_URL must start with sqlite:/// or redis://, got {url!r}")


def enqueue(job_id: int, priority: int = 0) -> None:
    """Put a job id on the queue; higher priorities are taken first."""
    huey = get_huey()
    huey.enqueue(_tasks[id(huey)].s(job_id, priority=int(priority)))


def pending_job_ids() -> list[int]:
    """Job ids waiting in the queue (not those a worker already took)."""
    return [task.args[0] for task in get_huey().pending() if task.name == TASK_NAME and task.args]


def enqueue_missing() -> list[int]:
    """Enqueue the jobs that are `queued` in the database but not in the queue (queue lost or
    flushed, enqueue failed at submit). Harmless if one slips in twice: the claim is atomic."""
    waiting = set(pending_job_ids())
    missing = [job for job in store.queued_jobs() if job["id"] not in waiting]
    for job in missing:
        enqueue(job["id"], job["priority"])
    return [job["id"] for job in missing]


def run_job(job_id: int) -> str:
    """The Huey task: claim the job and run it by its kind (train: jobs.runner, evaluate:
    jobs.evaluation); returns how it ended ('skipped' if not queued)."""
    from jobs.devices import assigned_device

    host, pid = socket.gethostname(), os.getpid()
    job = store.claim_job(job_id, host, pid, device=assigned_device())
    if job is None:
        log.info("job %s is not queued any more (cancelled, deleted or taken): skipped", job_id)
        return "skipped"
    if job.get("kind") == "evaluate":
        from jobs import evaluation

        return evaluation.execute(job, host, pid)
    from jobs import runner

    return runner.execute(job, host, pid)
