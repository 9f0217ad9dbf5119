"""The job queue: a Huey instance chosen by NEAT_QUEUE_URL, and its one task, `run_job`.

The queue only carries job ids; the database is the truth. A task claims its job with one
conditional UPDATE (queued -> running), so a job runs exactly once even when its id was
enqueued twice (re-enqueued after a lost queue, or two workers recovering at once) and a job
cancelled or deleted while queued is simply skipped.

A worker takes only a job whose training.num_devices it owns (jobs/devices.py): one asking for
more goes back on the queue's schedule, to be offered again in DEVICE_WAIT_S to whichever
worker comes next, and stays `queued`; its log says once what it waits for. No worker knows
the others, so a job no worker can take waits until one that can is started (or it is
cancelled).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

from huey import Huey, PriorityRedisHuey, SqliteHuey
from huey.exceptions import RetryTask

from jobs import config, store

log = logging.getLogger("jobs.queue")
TASK_NAME = "run_job"
SQLITE_QUEUE_TIMEOUT_S = 30.0
DEVICE_WAIT_S = 2.0  # a job waiting for a worker with more devices is offered again this often

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


def scheduled_job_ids() -> list[int]:
    """Job ids put off for a while: those waiting for a worker with more devices."""
    return [task.args[0] for task in get_huey().scheduled() if task.name == TASK_NAME and task.args]


def enqueue_missing() -> list[int]:
    """Enqueue the jobs that are `queued` in the database but not in the queue (queue lost or
    flushed, enqueue failed at submit). Harmless if one slips in twice: the claim is atomic."""
    waiting = set(pending_job_ids()) | set(scheduled_job_ids())
    missing = [job for job in store.queued_jobs() if job["id"] not in waiting]
    for job in missing:
        enqueue(job["id"], job["priority"])
    return [job["id"] for job in missing]


def run_job(job_id: int) -> str:
    """The Huey task: claim the job and run it by its kind (train: jobs.runner, evaluate:
    jobs.evaluation); returns how it ended ('skipped' if not queued)."""
    from jobs.devices import assigned_device, owned_devices

    host, pid = socket.gethostname(), os.getpid()
    if _needs_more_devices(job_id, owned_devices(), f"{host}:{pid}"):
        raise RetryTask(delay=DEVICE_WAIT_S)  # back on the schedule, still `queued`
    job = store.claim_job(job_id, host, pid, device=assigned_device())
    if job is None:
        log.info("job %s is not queued any more (cancelled, deleted or taken): skipped", job_id)
        return "skipped"
    if job.get("kind") == "evaluate":
        from jobs import evaluation

        return evaluation.execute(job, host, pid)
    from jobs import runner

    return runner.execute(job, host, pid)


def _needs_more_devices(job_id: int, owned: int, worker: str) -> bool:
    """True when the queued job asks for more devices than this worker owns; says so in its
    log the first time. A job that is gone or no longer queued is left to the claim to skip."""
    from jobs.devices import devices_wanted
    from jobs.errors import JobNotFound

    try:
        job = store.get_job(job_id)
    except JobNotFound:
        return False
    wanted = devices_wanted(job)
    if job["status"] != "queued" or wanted <= owned:
        return False
    waits = f"waits for a worker with {wanted} devices"
    if not any(event["text"].startswith(waits) for event in store.get_events(job_id, tail=50)):
        text = (
            f"{waits} (training.num_devices: {wanted}); worker {worker} has {owned}: start one with "
            f"--gpus ... --gpus-per-worker {wanted}"
        )
        store.add_event(job_id, text, "warning")
    log.debug("job %s wants %s devices, this worker owns %s: put back", job_id, wanted, owned)
    return True
