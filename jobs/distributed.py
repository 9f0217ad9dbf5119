"""A job with training.num_devices > 1: one process per device, data-parallel, through torchrun.

The worker process that claimed the job starts `python -m jobs.ddp_launch` (torch's
`torch.distributed.run` with --nproc-per-node=num_devices), which runs `jobs.ddp_rank` once per
device. Rank 0 reports through a `JobListener` of its own, owned by the claiming worker's
host:pid, exactly as the engine does in a single-process job (curve, progress, cancel, log);
the other ranks stay silent. The worker keeps heartbeating and waits.

Each rank writes how it ended to an outcome file (rank 0 always, the others when they fail);
`train` turns them back into what the single-process engine would have returned or raised, so
jobs.runner ends the job the same way: the summary, TrainingStopped (cancel), OutOfMemoryError
(retried with a smaller micro-batch), a disk-full OSError, a UserError, or `RankFailed` with
the failing rank's traceback. torchrun stops every rank when one exits non-zero (fail fast).
"""

from __future__ import annotations

import collections
import errno
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jobs import store
from neat.engine.errors import OutOfMemoryError, TrainingStopped, UserError
from neat.engine.rundir import RunDir

log = logging.getLogger("jobs.distributed")

PARENT_ENV = "NEAT_DDP_PARENT_PID"  # the process a launcher or rank dies with
STOP_GRACE_S = 30.0  # after SIGTERM, torchrun closes its ranks; then it is killed
TAIL_LINES = 40


class RankFailed(Exception):
    """A rank of a data-parallel run failed; `traceback` holds its last lines (or torchrun's)."""

    def __init__(self, reason: str, traceback: list[str]):
        super().__init__(reason)
        self.reason = reason
        self.traceback = traceback


def train(job: dict[str, Any], spec, output_dir: Path, listener, resume: bool) -> dict:
    """Run `spec` on spec.training.num_devices processes; returns rank 0's summary or raises
    as the single-process engine would (see the module's docstring)."""
    processes = spec.training.num_devices
    with tempfile.TemporaryDirectory(prefix=f"neat-ddp-{job['id']}-") as folder:
        request = Path(folder) / "request.json"
        request.write_text(
            json.dumps(
                {
                    "job": job,
                    "owner": [listener.host, listener.pid],
                    "spec": spec.to_dict(),
                    "output_dir": str(output_dir),
                    "resume": resume,
                    "outcomes": folder,
                }
            ),
            encoding="utf-8",
        )
        try:
            code, tail = _launch(request, processes)
        finally:  # rank 0 may have been killed before it stored its last points
            _backfill_points(job["id"], output_dir, (listener.host, listener.pid))
        return _result(_outcomes(Path(folder)), code, tail, processes, listener)


def _launch(request: Path, processes: int) -> tuple[int, list[str]]:
    """Run torchrun to the end; its output goes to the worker's log and its last lines are kept."""
    cmd = [
        sys.executable,
        "-m",
        "jobs.ddp_launch",
        "--standalone",  # one machine, a rendezvous on a free port: several jobs can run at once
        "--nnodes=1",
        f"--nproc-per-node={processes}",
        "--max-restarts=0",  # a failed rank fails the job; a resume continues from a checkpoint
        "--monitor-interval=0.5",
        "-m",
        "jobs.ddp_rank",
        str(request),
    ]
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log.info("data-parallel run on %d processes: torchrun pid %s", processes, proc.pid)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    reader = threading.Thread(target=_copy_output, args=(proc.stdout, tail), daemon=True)
    reader.start()
    try:
        code = proc.wait()
    except BaseException:  # the worker is shutting down (SIGTERM): no rank may live on
        _stop(proc)
        raise
    finally:
        reader.join(timeout=5)
    return code, list(tail)


def _copy_output(stream, tail: collections.deque) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        sys.stderr.write(line)
        tail.append(line.rstrip("\n"))
    stream.close()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM makes torchrun stop every rank; kill it if it does not end in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _backfill_points(job_id: int, output_dir: Path, owner: tuple[str, int]) -> None:
    """Store the points of metrics.jsonl the database lacks (the ones stored are ignored)."""
    try:
        store.add_metric_points(job_id, RunDir(output_dir).metric_points(), owner=owner)
    except Exception:  # noqa: BLE001 - the curve stays in metrics.jsonl for a resume to backfill
        log.warning("job %s: could not store the last metric points", job_id)


def _outcomes(folder: Path) -> dict[int, dict]:
    found = {}
    for path in folder.glob("outcome-*.json"):
        try:
            found[int(path.stem.split("-")[1])] = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue  # a rank killed while writing it: counts as no report
    return found


def _result(outcomes: dict[int, dict], code: int, tail: list[str], processes: int, listener) -> dict:
    failed = sorted((o["time"], rank) for rank, o in outcomes.items() if o["status"] == "failed")
    if failed:
        raise _error(outcomes[failed[0][1]], processes)
    if code != 0:
        raise RankFailed(
            f"a training process of the {processes} ended without a report (torchrun exit code {code})", tail
        )
    first = outcomes.get(0)
    if first is None:
        raise RankFailed("rank 0 of the data-parallel run ended without a report", tail)
    if first["status"] == "stopped":
        listener.note_stop(first["reason"])
        raise TrainingStopped("stopped on request")
    return first["summary"]


def _error(outcome: dict, processes: int) -> BaseException:
    """The exception the single-process engine would have raised for this rank's failure."""
    kind, message = outcome["kind"], outcome["message"]
    if kind == "oom":
        return OutOfMemoryError(message)
    if kind == "disk_full":
        return OSError(errno.ENOSPC, "No space left on device", outcome.get("filename"))
    if kind == "user":
        return UserError(message)
    where = f"rank {outcome['rank']} of {processes}"
    return RankFailed(f"{outcome['type']}: {message} ({where})", outcome.get("traceback") or [])


# -- what a rank reports (used by jobs.ddp_rank) -------------------------------------------------
def write_outcome(folder: str | Path, rank: int, status: str, **details: Any) -> None:
    """Write this rank's outcome atomically (a reader never sees half a file)."""
    path = Path(folder) / f"outcome-{rank}.json"
    partial = path.with_suffix(".part")
    record = {"rank": rank, "status": status, "time": time.time(), **details}
    partial.write_text(json.dumps(record, default=str), encoding="utf-8")
    partial.replace(path)


def die_with_parent(signum: int) -> None:
    """Get `signum` when the process named by NEAT_DDP_PARENT_PID dies (Linux), so that no
    launcher or rank outlives the worker that waits for it."""
    parent = int(os.environ.get(PARENT_ENV) or 0)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signum)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: torchrun still stops its ranks on a signal
        return
    if parent and os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)
