"""Evaluation jobs: score a finished training run on data, in the worker like training.

An evaluation job's spec is {"kind": "evaluate", "run_job": ID, "data": str | None,
"columns": {role: column} | None, "batch_size": N}; data None means the run's own held-out
test split. Its output folder is NEAT_HOME/evaluations/<eval job id>/ (metrics.json,
predictions.csv, written by neat.engine.evaluate.evaluate_run).

`check_request` refuses what can be known to be wrong before queueing (the run job missing,
not finished, another account's; its folder incomplete; the data not readable; a bad column
role). The worker calls `execute`, which ends the job `succeeded` (its best metric is the
scored main metric), `cancelled`, or `failed` with the reason.

Deleting the training run does not delete its evaluations: their results live in their own
folder and stay readable; the evaluation job's log says the run is gone, and one still
queued fails with "run job N no longer exists".
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import fields
from pathlib import Path
from typing import Any

from jobs import config, store
from jobs.errors import JobNotFound, JobStateError
from jobs.listener import Heartbeat
from neat.engine.errors import FieldError, SpecError, UserError
from neat.engine.rundir import RunDir
from neat.engine.spec import ColumnMap

log = logging.getLogger("jobs.evaluation")

KIND = "evaluate"
PROGRESS_INTERVAL_S = 1.0
COLUMN_ROLES = tuple(f.name for f in fields(ColumnMap))
# The metric shown as an evaluation job's "best metric", most preferred first.
_HEADLINE = ("accuracy", "pearson", "loss", "mse")


class EvaluationStopped(Exception):
    """The job was cancelled (or taken from this worker) while scoring."""

    def __init__(self, state: str):
        super().__init__(state)
        self.state = state


def is_evaluation(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.get("kind") == KIND


def check_request(
    run_job_id: int,
    data: str | None = None,
    columns: dict[str, str] | None = None,
    batch_size: int = 32,
    owner: str | None = None,
    any_owner: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the evaluation job's spec, the run job) or an error naming the problem.

    `owner`: the account asking (None: the local CLI user, who may score any run);
    `any_owner`: an admin, who may score other accounts' runs."""
    run = store.get_job(int(run_job_id))  # raises JobNotFound
    if owner is not None and not any_owner and run.get("owner") != owner:
        raise JobNotFound(f"job {int(run_job_id)} does not exist")
    if run.get("kind", "train") != "train":
        raise JobStateError(f"job {run['id']} is an evaluation; choose a training job to evaluate")
    if run["status"] != "succeeded":
        raise JobStateError(
            f"job {run['id']} is {run['status']}; only a succeeded training job can be evaluated"
        )
    folder = RunDir(run["output_dir"] or "")
    if not (run["output_dir"] and folder.spec_file.is_file() and folder.adapter.is_dir()):
        raise UserError(f"the run folder of job {run['id']} is missing or incomplete ({folder.root})")
    problems = _data_problems(data, folder, run["id"]) + _column_problems(columns)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        problems.append(FieldError("batch_size", f"must be a positive whole number, got {batch_size!r}"))
    if problems:
        raise SpecError(problems)
    spec = {
        "kind": KIND,
        "run_job": int(run["id"]),
        "data": str(data).strip() if data else None,
        "columns": dict(columns) if columns else None,
        "batch_size": int(batch_size),
    }
    return spec, run


def _data_problems(data: str | None, folder: RunDir, run_id: int) -> list[FieldError]:
    if not data or not str(data).strip():
        if not folder.test_split.exists():
            return [
                FieldError("data", f"job {run_id} kept no held-out test split; choose a file to evaluate on")
            ]
        return []
    from neat.engine.data import _data_suffix

    text = str(data).strip()
    path = Path(text).expanduser()
    if not path.exists():
        if _data_suffix(path) or path.is_absolute() or text.startswith((".", "~")):
            return [FieldError("data", f"{data}: no such file or folder")]
        return []  # a hub dataset id (`name`, `org/name`): the engine reads it or says why not
    if not os.access(path, os.R_OK):
        return [FieldError("data", f"{data}: not readable")]
    return []


def _column_problems(columns: dict[str, str] | None) -> list[FieldError]:
    if columns is None:
        return []
    if not isinstance(columns, dict):
        return [FieldError("columns", "must map roles (text, label, ...) to column names")]
    problems = []
    for role, column in columns.items():
        if role not in COLUMN_ROLES:
            problems.append(FieldError(f"columns.{role}", f"unknown role; choose {', '.join(COLUMN_ROLES)}"))
        elif not isinstance(column, str) or not column.strip():
            problems.append(FieldError(f"columns.{role}", "must name a column"))
    return problems


def job_name(run: dict[str, Any], data: str | None) -> str:
    target = Path(data).name if data else "its test split"
    return f"evaluate #{run['id']} {run.get('name') or ''} on {target}".replace("  ", " ")


# ---- in the worker --------------------------------------------------------------------------------


def execute(job: dict[str, Any], host: str, pid: int) -> str:
    """Score the claimed evaluation `job`; return how it ended."""
    from jobs.runner import _finish, _out_of_memory, _safe_event, disk_full

    job_id, spec = job["id"], job["spec"]
    output_dir = Path(job["output_dir"] or config.evaluations_dir() / str(job_id))
    with Heartbeat(job_id, host, pid, config.heartbeat_interval()):
        try:
            try:
                run = store.get_job(int(spec["run_job"]))
            except JobNotFound as exc:
                raise UserError(f"run job {spec['run_job']} no longer exists") from exc
            store.add_event(
                job_id, f"scoring job {run['id']} on {spec.get('data') or 'its test split'} ({host}:{pid})"
            )
            metrics = _score(job_id, host, pid, run, spec, output_dir)
        except KeyboardInterrupt:
            _finish(job_id, host, pid, "interrupted", "the worker was shut down while evaluating")
            raise
        except EvaluationStopped as stop:
            if stop.state == "lost":
                return "lost"
            return _finish(job_id, host, pid, "cancelled", None)
        except BaseException as exc:  # noqa: B036 - every failure must end the job, not the worker
            if isinstance(exc, (SystemExit, GeneratorExit)):
                raise
            full = disk_full(exc, output_dir)
            oom = _out_of_memory(exc)
            if full is not None:
                reason = full
            elif oom is not None:
                reason = f"out of memory: {oom} (try a smaller batch size)"
            elif isinstance(exc, UserError):
                reason = str(exc) or type(exc).__name__
            else:
                tail = "".join(traceback.format_exception(exc)).rstrip().splitlines()[-30:]
                _safe_event(job_id, "traceback (most recent call last, tail):\n" + "\n".join(tail), "error")
                reason = f"{type(exc).__name__}: {exc}"
            return _finish(job_id, host, pid, "failed", reason)
    headline = headline_metric(metrics)
    fields_ = {"best_metric_name": headline[0], "best_metric_value": headline[1]} if headline else {}
    return _finish(job_id, host, pid, "succeeded", None, progress=1.0, eta_seconds=0.0, **fields_)


def _score(job_id: int, host: str, pid: int, run: dict, spec: dict, output_dir: Path) -> dict:
    from neat.engine.evaluate import evaluate_run  # imported here: the queue's callers never load torch

    output_dir.mkdir(parents=True, exist_ok=True)
    progress = _Progress(job_id, host, pid)
    return evaluate_run(
        run["output_dir"],
        data=spec.get("data"),
        columns=spec.get("columns"),
        output_dir=output_dir,
        batch_size=int(spec.get("batch_size") or 32),
        progress=progress,
    )


class _Progress:
    """progress(done, total): progress and ETA into the job row, at most once a second; stops
    the scoring when the job was cancelled or is no longer this worker's."""

    def __init__(self, job_id: int, host: str, pid: int):
        self.job_id, self.owner = job_id, (host, pid)
        self.started = time.monotonic()
        self.last = float("-inf")

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL_S and done < total:
            return
        self.last = now
        fraction = min(1.0, done / total) if total else 0.0
        eta = (now - self.started) * (1 - fraction) / fraction if fraction > 0 else None
        store.update_running(self.job_id, owner=self.owner, progress=fraction, eta_seconds=eta)
        state = store.control_state(self.job_id, *self.owner)
        if state != "run":
            raise EvaluationStopped(state)


def headline_metric(metrics: dict | None) -> tuple[str, float] | None:
    """(name, value) of the metric a Jobs table shows for an evaluation (None when unlabelled)."""
    if not metrics or metrics.get("labelled") is False:
        return None
    for name in _HEADLINE:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return name, float(value)
    return None


def note_run_deleted(run_job_id: int) -> None:
    """Tell the evaluations of a deleted training run, in their logs, that the run is gone."""
    for job in store.list_jobs(kind=KIND):
        if (job.get("spec") or {}).get("run_job") == run_job_id:
            store.add_event(job["id"], f"run job {run_job_id} was deleted; these results stay", "warning")
