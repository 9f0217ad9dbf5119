"""Sweeps and seed groups, for app/backend.py: the plan from the Train form's value lists, and
what a finished group says — a table of its runs, and an A/B that survives noise.

group_comparison reads each succeeded run's summary.json: the task's main metric on the test
split (validation when any run has none), trainable parameters, train time and peak memory;
per method mean ± sd over the runs; and, for two methods run on the same seeds, the paired
difference over seeds with its 95% t interval and one sentence (neat.engine.stats).
"""

from __future__ import annotations

import json
from typing import Any

from app import access
from neat.engine.errors import FieldError, SpecError
from neat.engine.spec import RunSpec

# The Train form's sweep fields: spec field -> its label there.
SWEEP_FIELDS = {
    "training.learning_rate": "Learning rates",
    "method.scaling": "Scalings",
    "method.r": "Ranks r",
    "method.depth": "Depths",
    "method.name": "Methods",
    "training.seed": "Seeds",
}
METHOD_NAMES = {"neat": "NEAT", "lora": "LoRA", "full": "full fine-tuning"}
TABLE_COLUMNS = [
    "id",
    "name",
    "status",
    "method",
    "lr",
    "scaling",
    "r",
    "depth",
    "seed",
    "validation",
    "test",
    "best",
]
BEST_MARK = "★"
_PERCENT_METRICS = ("accuracy", "macro_f1", "f1", "precision", "recall")


def sweep_plan(spec: RunSpec, value_lists: dict[str, str]) -> list[RunSpec]:
    """The runs a sweep would queue: `value_lists` maps spec fields to what was typed
    ("1e-3, 5e-3"); empty ones are not swept. No list: the spec alone. Raises SpecError."""
    from neat.engine.sweep import expand_grid, field_kind, parse_value_list

    axes = {}
    errors: list[FieldError] = []
    for path, text in (value_lists or {}).items():
        if text is None or not str(text).strip():
            continue
        try:
            axes[path] = parse_value_list(str(text), field_kind(path), field=path)
        except SpecError as exc:
            errors += exc.errors
    if errors:
        raise SpecError(errors)
    if not axes:
        return [spec.validate()]
    return expand_grid(spec, axes)


# ---- a finished group ---------------------------------------------------------------------------


def _group_jobs(sweep_id: int, viewer) -> list[dict]:
    from jobs import api

    viewer = viewer if viewer is not None else access.viewer_of(None)
    jobs = [
        j
        for j in api.list_jobs(sweep=int(sweep_id))
        if viewer.may_see(j) and j.get("kind", "train") == "train"
    ]
    if not jobs:
        raise api.JobNotFound(f"sweep {int(sweep_id)} has no jobs to show")
    return sorted(jobs, key=lambda j: j["id"])


def _summary(job: dict) -> dict | None:
    from neat.engine.rundir import RunDir

    if job.get("status") != "succeeded" or not job.get("output_dir"):
        return None
    try:
        data = json.loads(RunDir(job["output_dir"]).summary_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _metric_name(job: dict, summary: dict | None) -> str:
    from neat.engine.metrics import bare, main_metric

    spec = job.get("spec") or {}
    task = spec.get("task", "classification")
    chosen = (spec.get("training") or {}).get("metric_for_best")
    if chosen:
        return bare(chosen)
    regression = bool(summary) and "eval_pearson" in (summary.get("eval") or {}) and task == "classification"
    return main_metric(task, regression)


def _value(summary: dict | None, source: str, metric: str) -> float | None:
    if not summary:
        return None
    if source == "test":
        value = (summary.get("test_metrics") or {}).get(metric)
    else:
        value = (summary.get("eval") or {}).get(f"eval_{metric}")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _peak_gb(summary: dict) -> float | None:
    peak = summary.get("peak_memory_bytes") or {}
    value = peak.get("cuda_allocated") or peak.get("host_rss")
    return value / 2**30 if value else None


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def group_comparison(sweep_id: int, viewer=None) -> dict[str, Any]:
    """Per method mean ± sd of the main metric over the group's succeeded runs (test split;
    validation when a run has no test score), with trainable parameters, train time, peak
    memory; the paired difference over seeds of two methods (NEAT - LoRA when both ran), its
    95% interval and the sentence saying what it means. Accuracy-like metrics in points (x100)."""
    from neat.engine import stats
    from neat.engine.metrics import greater_is_better

    jobs = _group_jobs(sweep_id, viewer)
    finished = [(job, s) for job in jobs if (s := _summary(job)) is not None]
    metric = _metric_name(jobs[0], finished[0][1] if finished else None)
    higher = greater_is_better(metric)
    source = (
        "test"
        if finished and all(_value(s, "test", metric) is not None for _, s in finished)
        else "validation"
    )
    scale, unit = (100.0, "points") if metric in _PERCENT_METRICS else (1.0, "")
    result: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": higher,
        "source": source,
        "unit": unit or metric,
        "n_examples": None,
        "methods": {},
        "paired": None,
        "sentence": "",
    }
    if not finished:
        result["sentence"] = f"no run of sweep {int(sweep_id)} has finished yet"
        return result
    if source == "test":
        ns = {(s.get("test_metrics") or {}).get("n") for _, s in finished}
        result["n_examples"] = ns.pop() if len(ns) == 1 else None
    by_method: dict[str, list[tuple[dict, dict, float]]] = {}
    for job, summary in finished:
        value = _value(summary, source, metric)
        if value is not None:
            method = summary.get("method") or (job.get("spec") or {}).get("method", {}).get("name", "?")
            by_method.setdefault(method, []).append((job, summary, value))
    for method, runs in by_method.items():
        mean, sd = stats.mean_sd([v for _, _, v in runs])
        result["methods"][method] = {
            "runs": len(runs),
            "job_ids": [job["id"] for job, _, _ in runs],
            "mean": mean,
            "sd": sd,
            "trainable_params": _mean([s.get("trainable_parameters") for _, s, _ in runs]),
            "train_seconds": _mean([s.get("train_seconds") for _, s, _ in runs]),
            "peak_memory_gb": _mean([_peak_gb(s) for _, s, _ in runs]),
        }
    result["paired"], result["sentence"] = _paired(by_method, scale, unit, higher, metric)
    return result


def _seed(job: dict) -> Any:
    return ((job.get("spec") or {}).get("training") or {}).get("seed")


def _paired(by_method: dict, scale: float, unit: str, higher: bool, metric: str):
    from neat.engine import stats

    if "neat" in by_method and "lora" in by_method:
        a, b = "neat", "lora"
    elif len(by_method) == 2:
        a, b = sorted(by_method)
    else:
        return None, (
            f"{len(by_method)} method(s) finished; a paired comparison needs two"
            if len(by_method) < 2
            else "more than two methods: compare them in the sweep table"
        )
    seeds = {}
    for method in (a, b):
        per_seed: dict[Any, float] = {}
        for job, _, value in by_method[method]:
            if _seed(job) in per_seed:
                return None, (
                    f"{METHOD_NAMES.get(method, method)} ran more than once with seed {_seed(job)}: "
                    "pairs need one run per method and seed (see the sweep table)"
                )
            per_seed[_seed(job)] = value
        seeds[method] = per_seed
    shared = sorted(set(seeds[a]) & set(seeds[b]), key=str)
    if not shared:
        return None, "the two methods share no seed, so there is nothing to pair"
    diff = stats.paired_difference(
        [seeds[a][s] * scale for s in shared], [seeds[b][s] * scale for s in shared]
    )
    name_a, name_b = METHOD_NAMES.get(a, a), METHOD_NAMES.get(b, b)
    sentence = stats.ab_sentence(name_a, name_b, diff, unit=unit or metric, higher_is_better=higher)
    return {**diff, "a": a, "b": b, "seeds": shared}, sentence


def sweep_table(sweep_id: int, viewer=None):
    """One row per run of the sweep (TABLE_COLUMNS): its point, status, validation and test
    values of the main metric (attrs["metric"]), sorted best first by validation, the best
    marked BEST_MARK."""
    import pandas as pd

    from neat.engine.metrics import bare, greater_is_better

    jobs = _group_jobs(sweep_id, viewer)
    summaries = {job["id"]: _summary(job) for job in jobs}
    first = next((s for s in summaries.values() if s), None)
    metric = _metric_name(jobs[0], first)
    rows = []
    for job in jobs:
        spec = job.get("spec") or {}
        method, training = spec.get("method") or {}, spec.get("training") or {}
        summary = summaries[job["id"]]
        validation = _value(summary, "validation", metric)
        if validation is None and bare(job.get("best_metric_name") or "") == metric:
            validation = job.get("best_metric_value")  # still running: its best so far
        rows.append(
            {
                "id": job["id"],
                "name": job.get("name"),
                "status": job.get("status"),
                "method": method.get("name"),
                "lr": training.get("learning_rate"),
                "scaling": method.get("scaling") if method.get("name") == "neat" else None,
                "r": method.get("r") if method.get("name") != "full" else None,
                "depth": method.get("depth") if method.get("name") == "neat" else None,
                "seed": training.get("seed"),
                "validation": validation,
                "test": _value(summary, "test", metric),
                "best": "",
            }
        )
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    higher = greater_is_better(metric)
    frame = frame.sort_values("validation", ascending=not higher, na_position="last", kind="stable")
    frame = frame.reset_index(drop=True)
    if frame["validation"].notna().any():
        frame.loc[0, "best"] = BEST_MARK
    frame.attrs["metric"] = metric
    return frame
