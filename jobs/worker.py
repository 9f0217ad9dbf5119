"""The worker: `python -m jobs.worker [--workers N] [--gpus all|0,1 [--gpus-per-worker N]]
[--heartbeat-timeout S] [--auto-resume]`.

With --gpus it supervises one worker process per GPU (per group of N GPUs with
--gpus-per-worker N) instead (jobs/devices.py), each with CUDA_VISIBLE_DEVICES set to its own
GPUs; it forwards SIGINT/SIGTERM to them and they die with it. A worker takes only the jobs
whose training.num_devices it owns (jobs/queue.py); one that owns several runs such a job
data-parallel, a process per device (jobs/distributed.py).

It upgrades the database, then keeps the job table honest while it runs the Huey consumer:
- at start and every few seconds, running jobs whose heartbeat is older than the timeout
  (their worker was killed or its machine vanished) become `interrupted`;
- with --auto-resume (or NEAT_AUTO_RESUME=1), such a job that has a checkpoint is queued
  again once;
- at start, jobs `queued` in the database but missing from the queue are enqueued again.
Training runs in worker processes (forked by Huey; threads with --worker-type thread). A worker
process dies with its parent, so `kill -9` of the worker leaves its job `running` with a stale
heartbeat, which the next check (of any worker) turns into `interrupted`.

`kill -USR1 <pid>` makes a worker (or any of its processes) print the stack of every thread,
to see where it is stuck. Heavy modules (the store, hence torch) load after that is set up.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys

from huey.consumer import Consumer

from jobs import config

log = logging.getLogger("jobs.worker")


def recover(heartbeat_timeout: float, auto_resume: bool) -> dict[str, list[int]]:
    """Mark jobs of dead workers interrupted and, if asked, queue them again once."""
    from jobs import queue, store
    from jobs.errors import JobStateError

    interrupted = store.mark_stale_running_as_interrupted(heartbeat_timeout)
    for job_id in interrupted:
        log.warning("job %s lost its worker: marked interrupted", job_id)
    resumed = []
    if auto_resume:
        for job in store.list_jobs(status="interrupted"):
            if job["auto_resumed"] or job["checkpoint_step"] is None:
                continue
            try:
                store.requeue(job["id"], auto_resumed=True)
            except JobStateError:
                continue  # another worker got there first
            store.add_event(job["id"], f"auto-resumed from the checkpoint at step {job['checkpoint_step']}")
            queue.enqueue(job["id"], job["priority"])
            resumed.append(job["id"])
            log.info("job %s auto-resumed", job["id"])
    return {"interrupted": interrupted, "auto_resumed": resumed}


class JobConsumer(Consumer):
    """Huey's consumer, plus the stale-job check at every worker health check, and forked
    children (workers and scheduler) that die with it instead of living on as orphans."""

    def __init__(self, huey, heartbeat_timeout: float, auto_resume: bool, **options):
        self.heartbeat_timeout = heartbeat_timeout
        self.auto_resume = auto_resume
        super().__init__(huey, **options)
        if self.environment.forks:
            parent, init_child = os.getpid(), self.environment.init_child

            def init_child_dying_with_parent(process) -> None:
                init_child(process)
                _die_with_parent(parent)

            self.environment.init_child = init_child_dying_with_parent

    def check_worker_health(self):
        try:
            recover(self.heartbeat_timeout, self.auto_resume)
        except Exception:
            log.exception("could not check for stale jobs")
        return super().check_worker_health()


def _die_with_parent(parent_pid: int) -> None:
    """Runs in each forked child: get SIGKILL when the consumer process dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the heartbeat still marks the job when the process ends
        log.debug("PR_SET_PDEATHSIG unavailable")
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _warm_up() -> None:
    """Runs in each worker before it takes a job: load the engine (torch, transformers) now.
    A first import takes seconds and holds the GIL in C code, which would starve the
    heartbeat thread of the job being started and get a healthy job declared dead."""
    try:
        import neat.engine.train  # noqa: F401
    except Exception:  # the job itself will fail with the reason
        log.exception("could not load the training engine")
    log.info("worker process %s ready", os.getpid())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.worker", description="Run NEAT Studio training jobs"
    )
    parser.add_argument("--workers", type=int, default=1, help="jobs trained at the same time (default 1)")
    parser.add_argument(
        "--worker-type",
        choices=["process", "thread"],
        default="process",
        help="train in forked processes (default; isolated, killable) or in threads",
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=None,
        help="seconds without a heartbeat after which a running job counts as interrupted "
        "(default: 6 heartbeats, at least 30 s)",
    )
    parser.add_argument(
        "--auto-resume",
        action="store_true",
        default=os.environ.get("NEAT_AUTO_RESUME", "") not in ("", "0", "false", "no"),
        help="queue an interrupted job with a checkpoint again, once (also NEAT_AUTO_RESUME=1)",
    )
    parser.add_argument(
        "--gpus",
        default=None,
        help="`all` or GPU numbers (0,1,...): one worker per GPU, each seeing only its own "
        "(--workers then counts jobs per GPU); default: one worker, devices as the environment has them",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=int,
        default=None,
        help="with --gpus: one worker per N GPUs (0,1 / 2,3 / ...), for jobs with "
        "training.num_devices up to N (default 1)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


_SUPERVISOR_OPTIONS = ("--gpus", "--gpus-per-worker")


def _without_gpus(argv: list[str]) -> list[str]:
    """The command line of one per-GPU worker: ours without --gpus and --gpus-per-worker."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _SUPERVISOR_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in _SUPERVISOR_OPTIONS)):
            out.append(arg)
    return out


def run_per_gpu(groups: list[list[str]], child_argv: list[str]) -> int:
    """Start one worker per group of GPUs and wait for them; signals are passed on to all of them."""
    import subprocess

    from jobs.devices import worker_env

    children = []
    gpus = [",".join(group) for group in groups]
    for group in gpus:
        cmd = [sys.executable, "-m", "jobs.worker", *child_argv]
        proc = subprocess.Popen(cmd, env=worker_env(group), preexec_fn=_terminate_with_parent)
        log.info("worker for GPU %s: pid %s", group, proc.pid)
        children.append(proc)

    def forward(signum, frame):
        for proc in children:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = []
    for gpu, proc in zip(gpus, children):
        codes.append(proc.wait())
        log.info("worker for GPU %s exited with %s", gpu, codes[-1])
    return max(codes, default=0)


def _terminate_with_parent() -> None:
    """In a per-GPU worker (Linux): SIGTERM when the supervisor dies, so none lives on alone."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from jobs.devices import GpuSpecError, group_gpus, owned_devices, parse_gpus

    if args.gpus is None and args.gpus_per_worker is not None:
        parser.error("--gpus-per-worker needs --gpus (the GPUs to split into workers)")
    if args.gpus is not None:
        try:
            groups = group_gpus(parse_gpus(args.gpus), args.gpus_per_worker or 1)
        except GpuSpecError as exc:
            parser.error(str(exc))
        return run_per_gpu(groups, _without_gpus(argv))
    try:
        devices = owned_devices()
    except GpuSpecError as exc:
        parser.error(str(exc))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    log.info("starting worker %s (%d device%s)", os.getpid(), devices, "" if devices == 1 else "s")
    from jobs import db, queue

    timeout = args.heartbeat_timeout or max(30.0, 6 * config.heartbeat_interval())
    db.init_db()
    huey = queue.get_huey()
    log.info(
        "database %s, queue %s (%s)",
        _safe_url(config.db_url()),
        _safe_url(config.queue_url()),
        config.queue_name(),
    )
    recover(timeout, args.auto_resume)
    requeued = queue.enqueue_missing()
    if requeued:
        log.info("re-enqueued queued jobs missing from the queue: %s", requeued)

    huey.on_startup(name="neat-warm-up")(_warm_up)
    consumer = JobConsumer(
        huey,
        heartbeat_timeout=timeout,
        auto_resume=args.auto_resume,
        workers=args.workers,
        worker_type=args.worker_type,
        periodic=False,
        initial_delay=0.1,
        max_delay=1.0,
        health_check_interval=max(0.5, min(10.0, timeout / 3)),
        # SIGINT (Ctrl-C) lets running jobs finish, a second one interrupts them; SIGTERM
        # interrupts them at once: they end `interrupted` and can be resumed.
        graceful_signal="INT",
    )
    consumer.run()
    return 0


def _safe_url(url: str) -> str:
    """The URL without its password, for the log."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True) if "://" in url else url
    except Exception:
        return url.split("@")[-1]


if __name__ == "__main__":
    sys.exit(main())
