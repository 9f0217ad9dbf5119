"""Compare tab: overlay the curves and final metrics of chosen jobs, list how their specs differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from app import backend
from app.access import viewer_of
from app.tabs import charts, compare_groups
from app.tabs.eval_results import test_metric_text
from app.tabs.shared import best_metric, job_choices, job_picker, metrics_frame, picker_jobs


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"method": {"r": 8}} -> {"method.r": 8}; lists stay values."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def spec_diff(specs: dict[str, dict], ignore: tuple[str, ...] = ("name",)) -> pd.DataFrame:
    """Rows of (field, value per job) for every field whose value is not the same in all jobs."""
    flat = {label: flatten(spec or {}) for label, spec in specs.items()}
    fields: list[str] = []
    for values in flat.values():
        fields += [f for f in values if f not in fields]
    rows = []
    for f in fields:
        if f in ignore:
            continue
        values = [flat[label].get(f, "—") for label in flat]
        if len({repr(v) for v in values}) > 1:
            rows.append([f, *[_show(v) for v in values]])
    return pd.DataFrame(rows, columns=["field", *flat.keys()])


def _show(value) -> str:
    if value is None:
        return "(default)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def final_metrics(jobs: dict[str, dict], points: dict[str, list[dict]]) -> pd.DataFrame:
    """One row per job: status, best metric, test metric and the last value of every eval metric."""
    rows, columns = [], ["job", "status", "best", "test"]
    for label, job in jobs.items():
        frame = metrics_frame(points.get(label, []))
        final = frame[frame["split"] == "final"]  # the best model's evaluation after training
        evals = final if len(final) else frame[frame["split"] == "eval"].sort_values("step")
        last = evals.groupby("name")["value"].last().to_dict() if len(evals) else {}
        row = {"job": label, "status": job.get("status", ""), "best": best_metric(job)}
        row["test"] = test_metric_text(job)  # the kept checkpoint on the held-out test split, with n
        for name, value in last.items():
            key = f"eval {name}"
            if backend.is_bookkeeping(name):
                continue
            if key not in columns:
                columns.append(key)
            row[key] = round(float(value), 4)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def overlay(points: dict[str, list[dict]], metric: str, x: str = "step") -> pd.DataFrame:
    """A long table for a LinePlot (x, value, job); metric: 'train loss', 'eval loss' or an eval metric."""
    split, _, name = metric.partition(" ")
    if not name:
        split, name = "eval", metric
    frames = []
    for label, pts in points.items():
        frame = metrics_frame(pts)
        sel = frame[(frame["split"] == split) & (frame["name"] == name)]
        frames.append(
            pd.DataFrame(
                {"x": sel[x if x in ("step", "epoch") else "step"], "value": sel["value"], "job": label}
            )
        )
    if not frames:
        return pd.DataFrame(
            {"x": pd.Series(dtype=float), "value": pd.Series(dtype=float), "job": pd.Series(dtype=str)}
        )
    return pd.concat(frames, ignore_index=True)


def metric_choices(points: dict[str, list[dict]]) -> list[str]:
    names = ["eval loss", "train loss"]
    for pts in points.values():
        frame = metrics_frame(pts)
        for name in frame[frame["split"] == "eval"]["name"].unique():
            if name != "loss" and not backend.is_bookkeeping(name):
                key = f"eval {name}"
                if key not in names:
                    names.append(key)
    return names


def legend_label(job: dict) -> str:
    """A short label, "#12 neat", that differs from its first characters on: names of related
    jobs share long prefixes, and a legend cuts long entries exactly where they differ."""
    method = ((job.get("spec") or {}).get("method") or {}).get("name") or job.get("name", "")
    return f"#{job['id']} {method}".strip()


@dataclass
class CompareTab:
    refresh: callable  # current selection -> update of the picker
    chosen: gr.Dropdown
    groups: compare_groups.GroupView


def build() -> CompareTab:
    gr.Markdown(
        "Choose two or more jobs: their curves overlaid, their final metrics side by side, "
        "and what differs in their specs."
    )
    with gr.Row():
        chosen = job_picker(
            choices=[], value=[], multiselect=True, label="Jobs to compare", elem_id="compare-select", scale=4
        )
        metric = gr.Dropdown(
            ["eval loss", "train loss"], value="eval loss", label="Curve", elem_id="compare-metric", scale=2
        )
        x_axis = gr.Radio(["step", "epoch"], value="step", label="x axis", scale=1)
        refresh = gr.Button("Refresh", size="sm", scale=0)
    # a Vega-Lite chart (app/tabs/charts.py): whole-number step ticks and uncut legend entries,
    # which the native LinePlot cannot be told
    plot = gr.Plot(label="Overlay", elem_id="compare-plot")
    finals = gr.Dataframe(label="Final metrics", interactive=False, elem_id="compare-finals")
    diff = gr.Dataframe(
        label="Spec differences (fields that are not the same in all chosen jobs)",
        interactive=False,
        elem_id="compare-diff",
        wrap=True,
    )

    def refresh_choices(current, request: gr.Request):
        choices = job_choices(picker_jobs(viewer_of(request), keep=current or []))
        valid = {v for _, v in choices}
        return gr.update(choices=choices, value=[c for c in (current or []) if c in valid])

    def show(ids, metric_name, x, viewer=None):
        ids = [i for i in (ids or []) if i]
        jobs, points, specs = {}, {}, {}
        for job_id in ids:
            try:
                job = backend.get_job(int(job_id), viewer)
            except Exception:  # noqa: BLE001 - deleted meanwhile (or not this account's)
                continue
            if not job:
                continue
            label = legend_label(job)
            jobs[label] = job
            points[label] = backend.get_metrics(int(job_id), viewer)
            specs[label] = job.get("spec") or {}
        names = metric_choices(points)
        metric_name = metric_name if metric_name in names else names[0]
        return (
            charts.lines(overlay(points, metric_name, x), x, metric_name, integer_x=x == "step"),
            final_metrics(jobs, points),
            spec_diff(specs) if len(specs) > 1 else pd.DataFrame({"field": ["(choose at least two jobs)"]}),
            gr.update(choices=names, value=metric_name),
        )

    def show_stream(ids, metric_name, x, request: gr.Request):
        return show(ids, metric_name, x, viewer_of(request))

    outputs = [plot, finals, diff, metric]
    chosen.change(show_stream, [chosen, metric, x_axis], outputs)
    metric.input(show_stream, [chosen, metric, x_axis], outputs)
    x_axis.change(show_stream, [chosen, metric, x_axis], outputs)
    refresh.click(refresh_choices, [chosen], [chosen]).then(show_stream, [chosen, metric, x_axis], outputs)
    groups = compare_groups.build()
    return CompareTab(refresh=refresh_choices, chosen=chosen, groups=groups)
