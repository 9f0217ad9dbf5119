"""Evaluation jobs and scored results, for app/backend.py (the tabs call them through it).

A result reads the same whether it comes from an evaluation job (NEAT_HOME/evaluations/<id>/)
or from a run's own test split (test_metrics.json and predictions.csv in the run folder):
{"job", "run_job", "metrics", "predictions", "predictions_path"}. An evaluation whose training
run was deleted keeps its results; its "run_job" is then None ("orphaned": True).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app import access, paths
from neat.engine.errors import FieldError, SpecError

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"


def _api():
    from jobs import api

    return api


def _viewer(viewer) -> access.Viewer:
    return viewer if viewer is not None else access.viewer_of(None)


def _visible_job(job_id: int, viewer) -> dict:
    job = _api().get_job(int(job_id))
    if not _viewer(viewer).may_see(job):
        raise _api().JobNotFound(f"job {int(job_id)} does not exist")
    return job


def submit_evaluation(
    job_ids, data: str | None = None, columns: dict | None = None, viewer=None, batch_size: int = 32
) -> list[int]:
    """One evaluation job per training job in `job_ids`, on `data` (an upload, an allowed
    server path or a hub id; None: each run's own test split). Every request is checked
    before any is queued; a problem raises (SpecError, JobNotFound, JobStateError)."""
    viewer = _viewer(viewer)
    ids = [int(i) for i in ([job_ids] if isinstance(job_ids, (int, str)) else job_ids)]
    if not ids:
        raise SpecError([FieldError("run_job", "choose at least one finished training job")])
    data = (data or "").strip() or None
    if data is not None:
        problems = paths.check_ref(data, "data", "evaluation data")
        if problems:
            raise SpecError(problems)
    columns = {role: column for role, column in (columns or {}).items() if column} or None
    if isinstance(batch_size, float) and batch_size.is_integer():  # a gr.Number gives floats
        batch_size = int(batch_size)
    from jobs import evaluation

    for job_id in ids:  # all checked first: a bad one queues none
        run = _visible_job(job_id, viewer)
        evaluation.check_request(job_id, data, columns, batch_size, viewer.name, viewer.sees_all)
        _remote_code_allowed(run)
    return [
        int(
            _api().submit_evaluation(
                i, data, columns, batch_size, owner=viewer.name, any_owner=viewer.sees_all
            )
        )
        for i in ids
    ]


def _remote_code_allowed(run: dict) -> None:
    """A run whose model brings its own code is scored only while the server allows that code."""
    model = (run.get("spec") or {}).get("model") or {}
    if model.get("trust_remote_code") and not access.remote_code_allowed():
        raise SpecError(
            [
                FieldError(
                    "run_job", f"job {run['id']}'s model runs its own code, which this server does not allow"
                )
            ]
        )


def _read_metrics(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_predictions(path: Path):
    import pandas as pd

    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def evaluation_result(eval_job_id: int, viewer=None) -> dict[str, Any]:
    """An evaluation job's row, its training run's row (None when deleted or not visible), and
    its metrics and predictions (None until it has succeeded)."""
    job = _visible_job(eval_job_id, viewer)
    if job.get("kind") != "evaluate":
        raise _api().JobStateError(f"job {job['id']} is a training job, not an evaluation")
    run_id = (job.get("spec") or {}).get("run_job")
    try:
        run = _visible_job(run_id, viewer) if run_id is not None else None
    except _api().JobNotFound:
        run = None
    folder = Path(job["output_dir"]) if job.get("output_dir") else None
    return _result(job, run, folder, folder / METRICS_FILE if folder else None)


def test_result(job_id: int, viewer=None) -> dict[str, Any]:
    """A training run's own test-split scores (test_metrics.json, predictions.csv), same shape."""
    from neat.engine.rundir import RunDir

    job = _visible_job(job_id, viewer)
    if job.get("kind", "train") != "train":
        raise _api().JobStateError(f"job {job['id']} is an evaluation; use its evaluation result")
    run = RunDir(job["output_dir"]) if job.get("output_dir") else None
    return _result(job, job, run.root if run else None, run.test_metrics_path if run else None)


test_result.__test__ = False  # a backend function, not a test for pytest to collect


def _result(job: dict, run: dict | None, folder: Path | None, metrics_path: Path | None) -> dict[str, Any]:
    predictions_path = folder / PREDICTIONS_FILE if folder else None
    metrics = _read_metrics(metrics_path) if metrics_path else None
    predictions = _read_predictions(predictions_path) if (predictions_path and metrics) else None
    return {
        "job": job,
        "run_job": run,
        "orphaned": run is None,
        "metrics": metrics,
        "predictions": predictions,
        "predictions_path": predictions_path if predictions is not None else None,
    }


def list_evaluations(viewer=None) -> list[dict]:
    """The evaluation jobs `viewer` may see, newest first; each row also has "run_job" (the
    training job's id), "data" (what it scores; None: the run's test split) and "run_exists"."""
    viewer = _viewer(viewer)
    api = _api()
    if viewer.sees_all:
        jobs = api.list_jobs(kind="evaluate")
    elif viewer.name:
        jobs = api.list_jobs(kind="evaluate", owner=viewer.name)
    else:
        return []
    runs = {j["id"] for j in api.list_jobs(kind="train")}
    rows = []
    for job in jobs:
        spec = job.get("spec") or {}
        rows.append(
            {
                **job,
                "run_job": spec.get("run_job"),
                "data": spec.get("data"),
                "run_exists": spec.get("run_job") in runs,
            }
        )
    return rows
