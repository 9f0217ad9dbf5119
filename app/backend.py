"""The app's only door to the job queue and the engine: thin, fast, never training in-process.

The tabs import nothing from neat/ or jobs/: what they need of the engine (the spec's types
and choices, errors, metric facts, model and dataset descriptions, finished runs) is named
here. Everything is called from Gradio handlers, so each call must return quickly: reading
the job store, describing a model from its config (meta device, no weights), reading a
dataset, or loading a finished run. Heavy engine modules are imported on first use, so the
app starts fast. Rows from jobs.api are plain dicts, so the tabs do not depend on ORM objects.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path

# ---- the engine's vocabulary, as the tabs use it -------------------------------------------------
from neat.engine.errors import DatasetError, FieldError, SpecError, UserError  # noqa: F401
from neat.engine.metrics import is_bookkeeping, is_quality_metric  # noqa: F401
from neat.engine.spec import (  # noqa: F401
    ACTIVATIONS,
    BUILTIN_DATASETS,
    EMBEDDED_MODELS,
    METHODS,
    NEAT_INITS,
    PRECISIONS,
    TASKS,
    ColumnMap,
    DataSpec,
    MethodSpec,
    ModelSpec,
    RunSpec,
    TrainingSpec,
)

# ---- jobs ---------------------------------------------------------------------------------------


def _api():
    from jobs import api  # imported on first use: the app starts fast

    return api


def _viewer(viewer):
    from app.access import viewer_of

    return viewer if viewer is not None else viewer_of(None)


def list_jobs(viewer=None, **filters) -> list[dict]:
    """The jobs `viewer` (an app.access.Viewer; None: no request) may see, newest first;
    `filters` are jobs.api.list_jobs's (status, kind, limit, ...)."""
    viewer = _viewer(viewer)
    if viewer.sees_all:
        return _api().list_jobs(**filters)
    return _api().list_jobs(owner=viewer.name, **filters) if viewer.name else []


def list_jobs_page(
    viewer=None, status: str | None = None, name: str | None = None, page: int = 0, per_page: int = 50
) -> tuple[list[dict], int]:
    """One page (0-based) of the jobs `viewer` may see, newest first, with how many match in all;
    `status` and `name` (a part of it, any case) filter them."""
    viewer = _viewer(viewer)
    if not viewer.sees_all and not viewer.name:
        return [], 0
    owner = None if viewer.sees_all else viewer.name
    total = _api().count_jobs(status=status, owner=owner, name=name)
    page = max(0, min(int(page), max(0, (total - 1) // per_page)))
    jobs = _api().list_jobs(status=status, owner=owner, name=name, limit=per_page, offset=page * per_page)
    return jobs, total


def hardware_line() -> str:
    """The footer's line: devices, free memory and what the queue runs now (jobs.hardware)."""
    from jobs.hardware import hardware_line as line

    api = _api()
    problem = _worker_problem() if _worker_problem is not None else None
    return line(api.count_jobs(status="running"), api.count_jobs(status="queued"), problem)


def deletion_plan(job_id: int, viewer=None) -> dict:
    """What deleting the job removes: its row and its run folder (exists, adapter, checkpoints, bytes)."""
    get_job(job_id, viewer)
    return _api().deletion_plan(int(job_id))


def get_job(job_id: int, viewer=None) -> dict:
    """One job, if `viewer` may see it; another account's job reads as one that does not exist."""
    job = _api().get_job(int(job_id))
    if not _viewer(viewer).may_see(job):
        raise _api().JobNotFound(f"job {int(job_id)} does not exist")
    return job


def job_spec(job: dict) -> RunSpec | None:
    """A training job's RunSpec; None for an evaluation job (its spec names the run it scores)."""
    spec = job.get("spec")
    if job.get("kind", "train") != "train":
        return None
    return RunSpec.from_dict(spec) if isinstance(spec, dict) else None


def get_metrics(job_id: int, viewer=None) -> list[dict]:
    """Metric points as dicts with step, epoch, split, name, value."""
    get_job(job_id, viewer)
    return _api().get_metrics(int(job_id))


def get_logs(job_id: int, tail: int = 200, viewer=None) -> str:
    get_job(job_id, viewer)
    lines = []
    for item in _api().get_logs(int(job_id), tail=tail):
        try:
            stamp = _dt.datetime.fromisoformat(item["time"]).strftime("%H:%M:%S ")
        except (TypeError, ValueError):
            stamp = ""
        prefix = "" if item.get("level", "info") == "info" else f"[{item['level']}] "
        lines.append(f"{stamp}{prefix}{item.get('text', '')}")
    return "\n".join(lines)


_worker_problem: Callable[[], str | None] | None = None


def watch_worker(problem: Callable[[], str | None] | None) -> None:
    """`python -m app` hands over how to ask its worker what is wrong: a callable saying why
    queued jobs may not run (the worker it started has exited, or none was started), or None
    when all is well. None: nothing to watch (another process runs the jobs)."""
    global _worker_problem
    _worker_problem = problem


def worker_notice(jobs: list[dict] | None = None) -> str:
    """A line for the Jobs tab when jobs are queued but this app's worker cannot run them
    (`jobs`: the ones shown; None: ask the store whether any is queued)."""
    if _worker_problem is None:
        return ""
    if jobs is None:
        queued = _api().count_jobs(status="queued") > 0
    else:
        queued = any(j.get("status") == "queued" for j in jobs)
    if not queued:
        return ""
    problem = _worker_problem()
    return f"⚠ {problem}" if problem else ""


def _allowed(specs: list[RunSpec]) -> None:
    """Refuse what the app may not queue (remote code it may not run, paths it may not read)."""
    from app.access import spec_problems

    problems = [p for spec in specs for p in spec_problems(spec)]
    if problems:
        raise SpecError(problems)


def submit(spec: RunSpec, viewer=None) -> int:
    _allowed([spec])
    return int(_api().submit(spec, owner=_viewer(viewer).name))


def submit_many(specs: list[RunSpec], name: str, viewer=None) -> list[int]:
    """Linked jobs (a sweep) that the Compare tab can show together."""
    _allowed(specs)
    return [int(i) for i in _api().submit_sweep(specs, name, owner=_viewer(viewer).name)]


def job_action(action: str, job_id: int, viewer=None, keep_files: bool = False):
    """cancel / resume / retry / delete of a job `viewer` may see; returns what jobs.api returns.
    `keep_files`: delete only the job's row, leaving its run folder on disk."""
    if action not in ("cancel", "resume", "retry", "delete"):
        raise ValueError(action)
    job = get_job(job_id, viewer)
    if action in ("resume", "retry") and (spec := job_spec(job)) is not None:
        _allowed([spec])  # e.g. remote code switched off since the job was queued
    if action == "delete":
        return _api().delete(int(job_id), keep_files=keep_files)
    return getattr(_api(), action)(int(job_id))


def output_dir(job: dict) -> Path | None:
    out = job.get("output_dir")
    return Path(out) if out else None


# ---- models: described from their config, without loading weights ------------------------------


def describe_linear_modules(
    name_or_path: str, trust_remote_code: bool = False, task: str = "classification"
) -> list[tuple[str, int, int]]:
    """(name, in, out) of the model's linear layers that an adapter may target (not the task head)."""
    from neat.engine.budget import describe_linear_modules as describe

    if trust_remote_code:
        from app.access import no_remote_code_here

        raise no_remote_code_here()
    return describe(name_or_path, task, trust_remote_code)


def param_budget(
    name_or_path: str, task: str, method: dict, num_labels: int = 2, trust_remote_code: bool = False
) -> dict:
    """Trainable parameters of NEAT / LoRA (at the same rank) / full FT: keys neat, lora, full, head."""
    from neat.engine.budget import param_budget as budget

    if trust_remote_code:
        from app.access import no_remote_code_here

        raise no_remote_code_here()
    return budget(
        name_or_path, task, MethodSpec(**method), num_labels=num_labels, trust_remote_code=trust_remote_code
    )


def fit_markdown(spec: RunSpec, num_labels: int = 2) -> str:
    """The fit check's sentence (memory and time before launch), warnings in bold; "" if unknown."""
    from neat.engine.fit import estimate

    try:
        est = estimate(spec, train_rows=spec.dataset.max_rows, num_labels=num_labels)
    except Exception:  # noqa: BLE001 - an unreadable model is reported by the parameter line
        return ""
    text = "**Fit check** — " + est.sentence() + "."
    for warning in est.warnings():
        text += f" **Warning: {warning}.**"
    return text


def default_targets(name_or_path: str) -> tuple[str, ...]:
    """The architecture's default target modules (query/value for BERT, q/v_proj for Llama...)."""
    from neat.engine.budget import default_targets as targets

    try:
        return tuple(targets(name_or_path))
    except (UserError, ValueError):  # no default known or unreadable: the user picks
        return ()


def module_choices(modules: list[tuple[str, int, int]]) -> list[str]:
    """Target-module names to offer for the linear layers `modules` (see neat.engine.budget)."""
    from neat.engine.budget import module_choices as choices

    return choices(modules)


def model_task(ref: str) -> str | None:
    """The task a model is made for (embedded models say so; a folder's config.json tells)."""
    from neat.engine.budget import model_task as task

    return task(ref)


def first_use_preparation(ref: str) -> tuple[str, str, int] | None:
    """(name, what, about how many seconds) when embedded model `ref` must be built before first use."""
    from neat.engine.assets import first_use_preparation as needed

    return needed(ref)


def prepare_model(ref: str) -> None:
    """Build an embedded model's folder now (the one-time preparation); a no-op once built."""
    from neat.engine.assets import resolve_model_path

    resolve_model_path(ref)


def method_defaults(task: str, method: str) -> dict[str, dict]:
    """{"method": {...}, "training": {...}}: `method`'s own defaults for `task` (neat.engine.defaults)."""
    from neat.engine.defaults import method_defaults as defaults

    return defaults(task, method)


def narrowing_warnings(ref: str, task: str, targets: list[str] | None) -> list[str]:
    """NEAT's limit on the targeted layers that narrow (in > out), as the check before launch
    words it (neat.engine.prequeue); [] when the model cannot be described. Never runs a
    model's own code: this is the app's process."""
    from neat.engine.budget import default_targets, describe_linear_modules
    from neat.engine.prequeue import narrowing_warnings as warnings

    try:
        modules = describe_linear_modules(ref, task, trust_remote_code=False)
        return warnings(modules, targets or default_targets(ref, task, trust_remote_code=False))
    except Exception:  # noqa: BLE001 - the budget line already says why the model is unknown
        return []


def defaults_evidence(task: str) -> str:
    """What the quality suite measured for NEAT at its defaults on this kind of task."""
    from neat.engine.defaults import defaults_evidence as evidence

    return evidence(task)


def with_method_defaults(spec: RunSpec, method: str) -> RunSpec:
    """A copy of `spec` switched to `method`, at that method's own defaults for the task."""
    from neat.engine.defaults import with_method_defaults as switched

    return switched(spec, method)


def quick_demo_spec() -> RunSpec:
    """The "Quick CPU demo" run (neat.engine.defaults.QUICK_DEMO, the one owner of its settings)."""
    from neat.engine.spec import quick_demo_spec as demo

    return demo()


# ---- datasets --------------------------------------------------------------------------------------


def load_raw(source: str, hub_split: str = "train"):
    from neat.engine.data import load_raw as load

    return load(source, hub_split)


def preview_rows(ds, n: int) -> list[dict]:
    from neat.engine.data_check import preview

    return preview(ds, n)


def suggest_task(columns: list[str]) -> str | None:
    from neat.engine.data_check import suggest_task as suggest

    return suggest(columns)


def suggest_columns(columns: list[str], task: str) -> dict[str, str]:
    from neat.engine.data_check import suggest_columns as suggest

    return suggest(columns, task)


def check_dataset(spec: RunSpec, raw=None, tokenizer=None):
    """neat's dataset check (raises DatasetError); returns a DatasetReport. With the model's
    `tokenizer` it measures token lengths and what max_length cuts, as the job will."""
    from neat.engine.data_check import check_dataset as check

    return check(spec, raw=raw, tokenizer=tokenizer)


def load_tokenizer(ref: str, task: str):
    """The tokenizer a text job would use for model `ref` (a few hundred ms; the app caches it).
    Never for a model that brings its own code: that code would run in the app process."""
    from neat.engine.loading import load_processor

    return load_processor(RunSpec(task=task, model=ModelSpec(ref)))


def prequeue_problems(spec: RunSpec, raw=None) -> list[FieldError]:
    """The pre-queue check `jobs submit` and `neat.train --check` run too (neat.engine.prequeue):
    model, targets and data fit together. A model with its own code is not loaded here."""
    from neat.engine.prequeue import check_run

    return check_run(spec, raw=raw, load_model=not spec.model.trust_remote_code).errors


# ---- finished runs ---------------------------------------------------------------------------------


def load_predictor(output_dir: str | Path):
    """A finished run, loaded to answer (seconds: the Playground caches it, app/caches.py), on a
    GPU no running job trains on, else the CPU. A run whose model brings its own code is
    refused: that code would run in the app process."""
    from jobs.devices import busy_gpus
    from neat.engine.inference import Predictor
    from neat.engine.rundir import RunDir

    if RunDir(output_dir).read_spec().model.trust_remote_code:
        from app.access import no_remote_code_here

        raise no_remote_code_here()
    running = _api().list_jobs(status="running")
    return Predictor.load(output_dir, busy_gpus=busy_gpus(job.get("device") for job in running))


def delta_spectrum(output_dir: str | Path, max_singular_values: int, predictor=None) -> list[dict]:
    from neat.engine.insight import delta_spectrum as spectrum

    return spectrum(output_dir, max_singular_values=max_singular_values, predictor=predictor)


def export_zip(kind: str, output_dir: str | Path) -> Path:
    """exports/adapter.zip or exports/merged.zip of a finished run, built on first request."""
    from neat.engine import export

    return export.adapter_zip(output_dir) if kind == "adapter" else export.merged_zip(output_dir)


def user_message(exc: BaseException) -> str:
    """What to show a person for an exception: the message of a UserError, else a short line."""
    if isinstance(exc, UserError):
        return str(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


# ---- evaluations, sweeps and seed groups (app/evaluations.py, app/sweeps.py) ----------------------


def list_evaluations(viewer=None) -> list[dict]:
    """Evaluation jobs `viewer` may see, newest first, with "run_job", "data" and "run_exists"."""
    from app import evaluations

    return evaluations.list_evaluations(viewer)


def submit_evaluation(job_ids, data=None, columns=None, viewer=None, batch_size: int = 32) -> list[int]:
    """One evaluation job per training job in `job_ids` on `data` (None: each run's test split;
    else an upload, an allowed server path or a hub id), `columns` {role: column} (None: the
    run's). All are checked before any is queued."""
    from app import evaluations

    return evaluations.submit_evaluation(job_ids, data, columns, viewer, batch_size)


def evaluation_result(eval_job_id: int, viewer=None) -> dict:
    """{"job", "run_job" (None once deleted), "orphaned", "metrics", "predictions" (DataFrame),
    "predictions_path"} of an evaluation job; metrics and predictions None until it succeeds."""
    from app import evaluations

    return evaluations.evaluation_result(eval_job_id, viewer)


def test_result(job_id: int, viewer=None) -> dict:
    """The same shape for a training run's own test split (test_metrics.json, predictions.csv)."""
    from app import evaluations

    return evaluations.test_result(job_id, viewer)


test_result.__test__ = False  # named like a test; pytest must not collect it where it is imported


def sweep_plan(spec: RunSpec, value_lists: dict[str, str]) -> list[RunSpec]:
    """The runs a sweep queues: `value_lists` {spec field: "1e-3, 5e-3"} (empty: not swept),
    each method at its own defaults unless swept; raises SpecError (bad item, over 64 runs)."""
    from app import sweeps

    return sweeps.sweep_plan(spec, value_lists)


def group_comparison(sweep_id: int, viewer=None) -> dict:
    """A sweep or seed group's A/B: {"metric", "higher_is_better", "source", "unit", "n_examples",
    "methods": {name: {"runs", "job_ids", "mean", "sd", "trainable_params", "train_seconds",
    "peak_memory_gb"}}, "paired": {"mean", "lo", "hi", "n", "sd", "a", "b", "seeds"} | None,
    "sentence"}."""
    from app import sweeps

    return sweeps.group_comparison(sweep_id, viewer)


def sweep_table(sweep_id: int, viewer=None):
    """One row per run (id, name, status, method, lr, scaling, r, depth, seed, validation, test,
    best), best validation first and marked; the metric's name in .attrs["metric"]."""
    from app import sweeps

    return sweeps.sweep_table(sweep_id, viewer)
