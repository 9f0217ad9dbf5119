"""An evaluation's result (metrics.json and predictions.csv, as backend.evaluation_result or
backend.test_result return them) turned into what the Evaluate tab shows: the metrics table
with n and uncertainty, the misclassified examples by confidence, the chat answers side by side,
and the choices of results to show."""

from __future__ import annotations

import pandas as pd

from app import backend, evaluation_view
from app.tabs.shared import best_metric

# metrics.json keys that are not scores (they describe what was scored, or are drawn elsewhere)
NOT_SCORES = ("task", "n", "labelled", "data", "labels", "per_class", "confusion_matrix")
METRICS_COLUMNS = ["metric", "value", "n", "95% interval"]
INPUT_COLUMNS = ("text", "text_pair", "image", "input", "prompt")
MAX_ERRORS_SHOWN = 50
MAX_THUMBNAILS = 24


def metrics_table(metrics: dict | None) -> pd.DataFrame:
    """One row per score, each with the number of examples it is measured on; an accuracy over
    fewer than 500 examples also gets its binomial 95% interval."""
    if not metrics:
        return pd.DataFrame(columns=METRICS_COLUMNS)
    n = metrics.get("n")
    rows = []
    for name, value in metrics.items():
        if name in NOT_SCORES or isinstance(value, (dict, list, str, bool)) or value is None:
            continue
        interval = ""
        if name == "accuracy" and (bounds := evaluation_view.accuracy_interval(metrics)):
            interval = f"{bounds[0]:.3f} to {bounds[1]:.3f}"
        shown = int(value) if name == "tokens" else round(float(value), 4)
        rows.append([name, shown, n, interval])
    if not rows:  # predictions only (a file without labels): say how many were scored
        rows.append(["predictions (no labels in the data)", n, n, ""])
    return pd.DataFrame(rows, columns=METRICS_COLUMNS)


def misclassified(predictions: pd.DataFrame | None, limit: int = MAX_ERRORS_SHOWN) -> pd.DataFrame:
    """The rows whose prediction is not the label, the most confident mistakes first."""
    if predictions is None or not {"label", "prediction"} <= set(predictions.columns):
        return pd.DataFrame()
    wrong = predictions[predictions["label"].astype(str) != predictions["prediction"].astype(str)]
    if "confidence" in wrong.columns:
        wrong = wrong.sort_values("confidence", ascending=False, kind="stable")
    # the short columns first: a long review then wraps in the room left, never pushing them
    # off to a horizontal scroll
    shown = ["label", "prediction"] + (["confidence"] if "confidence" in wrong.columns else [])
    shown += [c for c in INPUT_COLUMNS if c in wrong.columns]
    out = wrong[shown].head(limit).reset_index(drop=True)
    if "confidence" in out.columns:
        out["confidence"] = out["confidence"].astype(float).round(3)
    return out


def chat_table(predictions: pd.DataFrame | None) -> pd.DataFrame:
    """Held-out prompts with the reference and both answers side by side (chat runs)."""
    wanted = ["prompt", "reference", "base_answer", "adapted_answer", "loss"]
    if predictions is None or "adapted_answer" not in predictions.columns:
        return pd.DataFrame()
    out = predictions[[c for c in wanted if c in predictions.columns]].copy()
    if "loss" in out.columns:
        out["loss"] = out["loss"].astype(float).round(4)
    return out.rename(columns={"base_answer": "base answer", "adapted_answer": "adapted answer"})


def thumbnails(errors: pd.DataFrame, result: dict, limit: int = MAX_THUMBNAILS) -> list:
    """(thumbnail, caption) pairs for misclassified images, in the table's order."""
    if errors.empty or "image" not in errors.columns:
        return []
    from PIL import Image

    roots = evaluation_view.image_roots(result)
    out = []
    for _, row in errors.head(limit).iterrows():
        path = evaluation_view.image_file(row["image"], roots)
        if path is None:
            continue
        try:
            with Image.open(path) as img:
                thumb = img.convert("RGB")
                thumb.thumbnail((160, 160))
        except OSError:
            continue
        caption = f"{row['label']} → {row['prediction']}"
        if "confidence" in row:
            caption += f" ({float(row['confidence']):.2f})"
        out.append((thumb, caption))
    return out


def heading(result: dict) -> str:
    """What the panel shows: which job, scored on what, and the evaluation's state."""
    job, run_job = result.get("job") or {}, result.get("run_job")
    metrics = result.get("metrics") or {}
    if run_job:
        run_label = f"#{run_job['id']} {run_job.get('name', '')}".strip()
    else:  # the training run was deleted; its evaluation's results stay
        run_label = f"#{(job.get('spec') or {}).get('run_job', '?')} (deleted)"
    if result.get("kind") == "test":
        title = f"### {run_label} — its test split (scored after training)"
    else:
        title = f"### Evaluation #{job.get('id', '?')} of {run_label}"
    status = job.get("status", "")
    lines = [title]
    if metrics:
        lines.append(
            f"Data: {metrics.get('data', '?')} · {metrics.get('n', '?')} examples · {metrics.get('task', '')}"
        )
    elif status in ("queued", "running"):
        lines.append(f"{status} · {100 * (job.get('progress') or 0):.0f}% (runs in the worker; see Jobs)")
    elif status == "failed":
        lines.append(f"✗ failed: {job.get('error') or 'see its log in Jobs'}")
    elif status:
        lines.append(f"{status}: no results")
    else:
        lines.append("No results.")
    return "\n\n".join(lines)


def has_test_split(job: dict) -> bool:
    data = (job.get("spec") or {}).get("dataset") or {}
    return bool(data.get("test_source") or data.get("test_fraction"))


def result_choices(evaluations: list[dict], jobs: list[dict]) -> list[tuple[str, str]]:
    """Dropdown choices, newest first: evaluation jobs ("eval:ID") and the test-split results
    that training left in finished runs ("test:ID")."""
    names = {int(j["id"]): j.get("name", "") for j in jobs}
    out = []
    for ev in sorted(evaluations, key=lambda e: -int(e["id"])):
        spec = ev.get("spec") or {}
        run = spec.get("run_job")
        data = spec.get("data") or "its test split"
        short = str(data).rsplit("/", 1)[-1]
        label = f"evaluation #{ev['id']}: #{run} {names.get(int(run), '') if run else ''} on {short}"
        out.append((f"{' '.join(label.split())} · {ev.get('status', '')}", f"eval:{ev['id']}"))
    for job in sorted(jobs, key=lambda j: -int(j["id"])):
        if job.get("status") == "succeeded" and has_test_split(job):
            out.append((f"test split of #{job['id']} {job.get('name', '')}", f"test:{job['id']}"))
    return out


def load(choice: str, viewer=None) -> dict:
    """The result behind a choice value, with "kind" ("eval" or "test") added."""
    kind, _, ident = str(choice).partition(":")
    if kind == "test":
        result = dict(backend.test_result(int(ident), viewer))
    elif kind == "eval":
        result = dict(backend.evaluation_result(int(ident), viewer))
    else:
        raise ValueError(f"not a result: {choice!r}")
    result["kind"] = kind
    return result


HEADLINE = ("accuracy", "macro_f1", "pearson", "mse", "loss", "perplexity")


def best_metric_text(job: dict) -> str:
    """The Jobs table's best (validation) metric with its n once the run has finished, and the
    95% interval of an accuracy measured on fewer than 500 examples:
    "accuracy 0.708 (n=120, 95% 0.62-0.78)"."""
    text = best_metric(job)
    n = evaluation_view.validation_rows(job) if text else None
    if not n:
        return text
    name = (job.get("best_metric_name") or "").removeprefix("eval_")
    if name != "accuracy":  # a loss or a regression score has no binomial interval
        return f"{text} (n={n})"
    interval = evaluation_view.accuracy_interval({"accuracy": job["best_metric_value"], "n": n})
    if interval:
        return f"{text} (n={n}, 95% {interval[0]:.2f}-{interval[1]:.2f})"
    return f"{text} (n={n})"


def test_metric_text(job: dict) -> str:
    """The Jobs table's test column: the run's main metric on its test split, with its n
    ("accuracy 0.812 (n=120)"); blank without a test split."""
    metrics = evaluation_view.test_summary(job)
    if not metrics:
        return ""
    best = (job.get("best_metric_name") or "").removeprefix("eval_")
    names = [best, *HEADLINE] if best else list(HEADLINE)
    for name in names:
        value = metrics.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{name} {value:.4g} (n={metrics.get('n', '?')})"
    return f"n={metrics['n']}" if metrics.get("n") else ""
