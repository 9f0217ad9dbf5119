"""Compare tab, groups: a "compare with LoRA" group (NEAT and LoRA x seeds) or a sweep, read
as a whole.

For a group: per method the mean ± sd of the test metric (the validation metric when the runs
had no test split), trainable parameters, train time and peak memory; the paired NEAT - LoRA
difference with its 95% interval, and the one sentence that says whether the runs can tell the
methods apart (backend.group_comparison). For a sweep: every run sorted by the validation
metric with the best marked, and the metric against the learning rate per method
(backend.sweep_table).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from app import backend
from app.access import viewer_of
from app.tabs import charts
from app.tabs.shared import job_picker, safe_jobs

METHOD_COLUMNS = ["method", "runs", "metric (mean ± sd)", "trainable params", "train time", "peak memory"]


def group_choices(jobs: list[dict]) -> list[tuple[str, str]]:
    """One choice per sweep among `jobs`, newest first: "sweep 3 · 6 runs (lora, neat) · 4 done"."""
    groups: dict[int, list[dict]] = {}
    for job in jobs:
        if job.get("sweep_id") is not None and (job.get("kind") or "train") == "train":
            groups.setdefault(int(job["sweep_id"]), []).append(job)
    out = []
    for sweep_id in sorted(groups, reverse=True):
        members = groups[sweep_id]
        methods = sorted({((j.get("spec") or {}).get("method") or {}).get("name", "?") for j in members})
        done = sum(j.get("status") == "succeeded" for j in members)
        first = min(int(j["id"]) for j in members)
        runs = f"{len(members)} runs ({', '.join(methods)})"
        label = f"sweep {sweep_id} · jobs #{first}… · {runs} · {done} done"
        out.append((label, str(sweep_id)))
    return out


def _number(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return f"{float(value):.{digits}g}"


def _seconds(value) -> str:
    if value is None:
        return ""
    value = float(value)
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def methods_frame(comparison: dict) -> pd.DataFrame:
    """Per method: runs, the metric's mean ± sd, trainable params, train time, peak memory."""
    rows = []
    for name, m in (comparison.get("methods") or {}).items():
        mean, sd = m.get("mean"), m.get("sd")
        metric = "" if mean is None else f"{_number(mean)} ± {_number(sd or 0.0, 2)}"
        params = m.get("trainable_params")
        memory = m.get("peak_memory_gb")
        rows.append(
            [
                name,
                m.get("runs", ""),
                metric,
                f"{int(params):,}" if params is not None else "",
                _seconds(m.get("train_seconds")),
                f"{float(memory):.2f} GB" if memory is not None else "",
            ]
        )
    return pd.DataFrame(rows, columns=METHOD_COLUMNS)


def comparison_markdown(comparison: dict) -> str:
    """The sentence, and what it is measured on (the metric, its split, its n)."""
    if not comparison:
        return ""
    metric = comparison.get("metric", "metric")
    source = comparison.get("source") or "validation"
    n = comparison.get("n_examples")
    better = "higher" if comparison.get("higher_is_better", True) else "lower"
    where = f"{source} split" + (f", n = {n} examples per run" if n else "")
    lines = [
        f"**{comparison.get('sentence', '')}**",
        f"Metric: {metric} on the {where} ({better} is better).",
    ]
    paired = comparison.get("paired")
    if paired:
        lines.append(
            f"Paired difference over {paired.get('n')} seed(s): {_number(paired.get('mean'))} "
            f"(95% interval {_number(paired.get('lo'))} to {_number(paired.get('hi'))})."
        )
    return "\n\n".join(lines)


def sweep_view(table: pd.DataFrame | None) -> tuple[pd.DataFrame, list[dict], str]:
    """The sweep table as backend.sweep_table gives it (best validation first, the best marked),
    with the metric named in its headers; the (lr, method, value) rows to plot; the metric."""
    if table is None or table.empty:
        return pd.DataFrame(), [], ""
    metric = table.attrs.get("metric") or "metric"
    rows = [
        {"lr": r["lr"], "method": r["method"], "value": r["validation"]}
        for _, r in table.iterrows()
        if pd.notna(r.get("lr")) and pd.notna(r.get("validation"))
    ]
    shown = table.rename(columns={"validation": f"validation {metric}", "test": f"test {metric}"})
    return shown, rows, metric


@dataclass
class GroupView:
    group: gr.Dropdown
    refresh: callable


def build() -> GroupView:
    gr.Markdown(
        "### Groups and sweeps\nA group queued by “compare with LoRA” (NEAT and LoRA × seeds) or a "
        "sweep: per-method means with their spread, the paired difference and what it means; "
        "every run sorted by its validation metric."
    )
    with gr.Row():
        group = job_picker(choices=[], value=None, label="Group or sweep", elem_id="compare-group", scale=4)
        refresh = gr.Button("Refresh", size="sm", scale=0)
    sentence = gr.Markdown("", elem_id="compare-sentence")
    methods = gr.Dataframe(
        pd.DataFrame(columns=METHOD_COLUMNS), label="Per method", interactive=False, elem_id="compare-methods"
    )
    runs = gr.Dataframe(label="Runs (best first)", interactive=False, elem_id="compare-sweep", max_height=360)
    by_lr = gr.Plot(label="Metric by learning rate", elem_id="compare-by-lr")

    def refresh_groups(current, request: gr.Request):
        jobs, _ = safe_jobs(viewer_of(request))
        choices = group_choices(jobs)
        valid = {v for _, v in choices}
        return gr.update(choices=choices, value=current if current in valid else None)

    def show(sweep_id, request: gr.Request):
        viewer = viewer_of(request)
        blank = pd.DataFrame(columns=METHOD_COLUMNS)
        if not sweep_id:
            return "", blank, pd.DataFrame(), None
        try:
            comparison = backend.group_comparison(int(sweep_id), viewer)
            table = backend.sweep_table(int(sweep_id), viewer)
        except Exception as exc:  # noqa: BLE001 - e.g. no run finished yet
            return f"⚠ {backend.user_message(exc)}", blank, pd.DataFrame(), None
        frame, rows, metric = sweep_view(table)
        plot = charts.metric_by_learning_rate(rows, f"validation {metric}") if rows else None
        return comparison_markdown(comparison), methods_frame(comparison), frame, plot

    outputs = [sentence, methods, runs, by_lr]
    group.change(show, [group], outputs)
    refresh.click(refresh_groups, [group], [group]).then(show, [group], outputs)
    return GroupView(group=group, refresh=refresh_groups)
