"""What several tabs show the same way: the job list (read safely), job pickers, the best
metric, metric points as a table, and values for native plots."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from app import backend


def safe_jobs(viewer=None) -> tuple[list[dict], str]:
    """The jobs `viewer` (an app.access.Viewer; None: no request) may see, and a problem line."""
    try:
        return backend.list_jobs(viewer), ""
    except Exception as exc:  # noqa: BLE001 - the store unreachable: say so in the table's place
        return [], f"⚠ Cannot read the job list: {backend.user_message(exc)}"


def job_picker(**kwargs) -> gr.Dropdown:
    """A dropdown of jobs. Its choices are refreshed while the browser may still hold a job that
    a refresh no longer lists (deleted, or listed by a refresh that read the store just before
    it was created); Gradio then refuses every event that reads the picker, so any value is
    accepted here and the handlers, which look each job up, say what became of it."""
    return gr.Dropdown(allow_custom_value=True, **kwargs)


PICKER_LIMIT = 200  # a job picker offers the newest this many; the Jobs tab pages through all


def picker_jobs(viewer=None, status: str | None = None, keep=()) -> list[dict]:
    """The training jobs a picker offers: the newest PICKER_LIMIT (of one status), and the ones
    in `keep` (the picker's current values) even when older, so a choice is never dropped."""
    try:
        jobs = backend.list_jobs(viewer, status=status, kind="train", limit=PICKER_LIMIT)
    except Exception:  # noqa: BLE001 - the store unreachable: an empty picker (the Jobs tab says why)
        return []
    shown = {str(j["id"]) for j in jobs}
    for job_id in keep or ():
        if job_id and str(job_id) not in shown and str(job_id).isdigit():
            try:
                jobs.append(backend.get_job(int(job_id), viewer))
            except Exception:  # noqa: BLE001 - deleted meanwhile, or not this account's: dropped
                continue
    return jobs


def method_label(job: dict) -> str:
    spec = job.get("spec") or {}
    if job.get("kind", "train") != "train":  # the Jobs table's method column says what it does
        return f"evaluation of #{spec.get('run_job')}" if isinstance(spec, dict) else "evaluation"
    if isinstance(spec, dict):
        m = spec.get("method") or {}
        name = m.get("name", "")
        if name in ("neat", "lora"):
            return f"{name} r={m.get('r')}" + (
                f" d={m.get('depth')}" if name == "neat" and m.get("depth") else ""
            )
        return name
    return ""


def best_metric(job: dict) -> str:
    value = job.get("best_metric_value")
    if value is None:
        return ""
    name = job.get("best_metric_name") or "metric"
    return f"{name.removeprefix('eval_')} {value:.4g}"


def job_choices(jobs: list[dict], statuses: tuple[str, ...] | None = None, method: str | None = None):
    """Dropdown choices (label, value) newest first; value is the id as a string."""
    out = []
    for job in sorted(jobs, key=lambda j: -int(j["id"])):
        if job.get("kind", "train") != "train":  # evaluations have no adapter to pick
            continue
        if statuses and job.get("status") not in statuses:
            continue
        if method and (job.get("spec") or {}).get("method", {}).get("name") != method:
            continue
        out.append(
            (
                f"#{job['id']} {job.get('name', '')} · {method_label(job)} · {job.get('status', '')}",
                str(job["id"]),
            )
        )
    return out


def _clean_name(name: str, split: str) -> str:
    for prefix in ("eval_", "train_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def metrics_frame(points: list[dict]) -> pd.DataFrame:
    """Metric points as a long table: step, epoch, split, name (without eval_/train_), value."""
    if not points:
        return pd.DataFrame(columns=["step", "epoch", "split", "name", "value"])
    frame = pd.DataFrame(
        [
            {
                "step": p.get("step"),
                "epoch": p.get("epoch"),
                "split": p.get("split", "train"),
                "name": _clean_name(str(p.get("name", "")), p.get("split", "")),
                "value": p.get("value"),
            }
            for p in points
        ]
    )
    frame = frame.dropna(subset=["value"])
    frame["value"] = frame["value"].astype(float)
    frame["step"] = frame["step"].astype(float)
    if frame["epoch"].isna().all():
        frame["epoch"] = frame["step"]
    else:
        frame["epoch"] = frame["epoch"].astype(float).interpolate(limit_direction="both")
    return frame
