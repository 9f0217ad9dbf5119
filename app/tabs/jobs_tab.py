"""Jobs tab: every job with status, progress, ETA and best metric, refreshing by itself; the
selected job's curves, log tail and spec; cancel, resume, retry, clone and delete.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from app import backend, config
from app.access import viewer_of
from app.tabs.eval_results import test_metric_text
from app.tabs.shared import best_metric, job_choices, method_label, metrics_frame, plot_value, safe_jobs

ACTIVE = ("queued", "running")
STATUS_ICON = {
    "queued": "…",
    "running": "▶",
    "succeeded": "✓",
    "failed": "✗",
    "cancelled": "■",
    "interrupted": "⚠",
}
TABLE_COLUMNS = ["id", "name", "method", "status", "progress", "ETA", "best metric", "test metric", "created"]


# ---- plain data -> tables and curves ---------------------------------------------------------------


def fmt_eta(seconds) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _created(job: dict) -> str:
    when = job.get("created_at")
    if isinstance(when, dt.datetime):
        return when.strftime("%Y-%m-%d %H:%M")
    return str(when or "")[:16].replace("T", " ")


def jobs_frame(jobs: list[dict]) -> pd.DataFrame:
    rows = []
    for job in sorted(jobs, key=lambda j: -int(j["id"])):
        status = job.get("status", "")
        progress = job.get("progress") or 0.0
        rows.append(
            [
                int(job["id"]),
                job.get("name", ""),
                method_label(job),
                f"{STATUS_ICON.get(status, '')} {status}".strip(),
                f"{100 * progress:.0f}%",
                fmt_eta(job.get("eta_seconds")) if status == "running" else "",
                best_metric(job),
                test_metric_text(job),  # the kept checkpoint on the held-out test split, with n
                _created(job),
            ]
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def curves(points: list[dict], x: str = "step") -> dict[str, pd.DataFrame]:
    """The three charts of a job: loss (train and eval on one), eval metrics, learning rate."""
    frame = metrics_frame(points)
    x = x if x in ("step", "epoch") else "step"
    loss = frame[(frame["name"] == "loss") & frame["split"].isin(["train", "eval"])].copy()
    loss["series"] = loss["split"] + " loss"
    evals = frame[
        (frame["split"] == "eval") & frame["name"].map(backend.is_quality_metric).astype(bool)
    ].copy()
    evals["series"] = evals["name"]
    lr = frame[frame["name"].isin(["learning_rate", "lr"])].copy()
    lr["series"] = "learning rate"
    cols = [x, "value", "series"]
    return {
        "loss": loss[cols].rename(columns={x: "x"}),
        "metrics": evals[cols].rename(columns={x: "x"}),
        "lr": lr[cols].rename(columns={x: "x"}),
    }


def job_summary(job: dict) -> str:
    if not job:
        return "Select a job to see its curves, log and spec."
    status = job.get("status", "")
    lines = [f"### #{job['id']} {job.get('name', '')} — {STATUS_ICON.get(status, '')} {status}"]
    facts = [f"progress {100 * (job.get('progress') or 0):.0f}%"]
    if status == "running" and job.get("eta_seconds") is not None:
        facts.append(f"ETA {fmt_eta(job['eta_seconds'])}")
    if best_metric(job):
        facts.append(f"best {best_metric(job)}")
    if job.get("attempts"):
        facts.append(f"attempts {job['attempts']}")
    if job.get("resumed_from"):
        facts.append(f"resumed from step {job['resumed_from']}")
    if job.get("retry_of"):
        facts.append(f"retry of #{job['retry_of']}")
    lines.append(" · ".join(facts))
    if job.get("error"):
        lines.append(f"\n**Reason:** {job['error']}")
    if job.get("output_dir"):
        lines.append(f"\nOutput: `{job['output_dir']}`")
    return "\n".join(lines)


def spec_yaml(job: dict) -> str:
    try:
        spec = backend.job_spec(job)
    except Exception:  # noqa: BLE001 - show what is stored
        return str(job.get("spec", ""))
    return spec.to_yaml() if spec else ""


def run_action(action: str, job_id, viewer=None) -> str:
    """Do cancel/resume/retry/delete (of a job `viewer` may see) and say what happened, in words."""
    if not job_id:
        return "Select a job first."
    try:
        result = backend.job_action(action, int(job_id), viewer)
    except Exception as exc:  # noqa: BLE001 - e.g. "cannot resume a succeeded job"
        return f"✗ {backend.user_message(exc)}"
    verbs = {"cancel": "Cancel requested for", "resume": "Resuming", "retry": "Retrying", "delete": "Deleted"}
    text = f"{verbs[action]} job #{job_id}"
    if action == "retry" and isinstance(result, int) and result != int(job_id):
        text += f" as new job #{result}"
    return text + "."


# ---- the Gradio tab --------------------------------------------------------------------------------


@dataclass
class JobsTab:
    table: gr.Dataframe
    select: gr.Dropdown
    clone_btn: gr.Button
    action_status: gr.Markdown
    refresh: callable
    notice: gr.Markdown


def _empty_plot_frame():
    # A native plot must start from None: an empty frame fixes its colour scale as numeric,
    # and later data then draws no lines (Gradio 6).
    return None


def _curve_plot(title: str, elem_id: str, y_title: str | None = None) -> gr.LinePlot:
    """One of the job's live charts: a line per series over steps (or epochs)."""
    return gr.LinePlot(
        _empty_plot_frame(),
        x="x",
        y="value",
        color="series",
        title=title,
        x_title="step",
        y_title=y_title,
        elem_id=elem_id,
        height=260,
    )


def build(timer: gr.Timer) -> JobsTab:
    gr.Markdown("All jobs, newest first; the list refreshes by itself. Click a row or pick a job below.")
    notice = gr.Markdown("", elem_id="jobs-notice")
    table = gr.Dataframe(
        value=pd.DataFrame(columns=TABLE_COLUMNS),
        interactive=False,
        label="Jobs",
        elem_id="jobs-table",
        max_height=320,
        wrap=True,
    )
    with gr.Row():
        select = gr.Dropdown([], value=None, label="Selected job", elem_id="job-select", scale=3)
        x_axis = gr.Radio(["step", "epoch"], value="step", label="x axis", elem_id="x-axis", scale=1)
    summary = gr.Markdown(job_summary({}), elem_id="job-summary")
    with gr.Row():
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="job-cancel", size="sm")
        resume_btn = gr.Button("Resume", elem_id="job-resume", size="sm")
        retry_btn = gr.Button("Retry", elem_id="job-retry", size="sm")
        clone_btn = gr.Button("Clone into Train form", elem_id="job-clone", size="sm")
        delete_btn = gr.Button("Delete", elem_id="job-delete", size="sm")
    action_status = gr.Markdown("", elem_id="job-action-status")
    with gr.Row():
        loss_plot = _curve_plot("Loss", "loss-plot", y_title="loss")
        metrics_plot = _curve_plot("Evaluation metrics", "metrics-plot")
        lr_plot = _curve_plot("Learning rate", "lr-plot")
    with gr.Row():
        logs = gr.Code(
            "",
            language=None,
            label="Log (tail)",
            show_line_numbers=False,
            lines=12,
            max_lines=20,
            elem_id="job-logs",
        )
        spec = gr.Code("", language="yaml", label="Spec", lines=12, max_lines=20, elem_id="job-spec")
    last_seen = gr.State(None)  # what the detail panes show now, so idle ticks change nothing

    def refresh_table(request: gr.Request):
        jobs, problem = safe_jobs(viewer_of(request))
        return jobs_frame(jobs), gr.update(choices=job_choices(jobs)), problem or backend.worker_notice(jobs)

    def _blank_details(summary):
        """What details() shows when there is no job to draw: the summary line and empty charts."""
        return [summary, _empty_plot_frame(), _empty_plot_frame(), _empty_plot_frame(), "", "", None]

    def details(job_id, x, seen, force=False, viewer=None):
        if not job_id:
            return _blank_details(job_summary({}))
        try:
            job = backend.get_job(int(job_id), viewer)
        except Exception as exc:  # noqa: BLE001 - e.g. deleted meanwhile
            return _blank_details(f"⚠ {backend.user_message(exc)}")
        if not job:
            return _blank_details(f"Job #{job_id} no longer exists.")
        points = backend.get_metrics(int(job_id), viewer)
        stamp = (
            job_id,
            x,
            job.get("status"),
            len(points),
            job.get("progress"),
            job.get("heartbeat_at"),
            job.get("error"),
        )
        if not force and isinstance(seen, tuple) and seen[:-1] == stamp:
            return [gr.skip()] * 6 + [seen]
        c = curves(points, x)
        # which lines each chart draws: a chart whose set of lines changes is reset first
        stamp = (*stamp, tuple(tuple(sorted(set(c[k]["series"]))) for k in ("loss", "metrics", "lr")))
        x_title = "epoch" if x == "epoch" else "step"
        try:
            log_text = backend.get_logs(int(job_id), tail=200, viewer=viewer)
        except Exception as exc:  # noqa: BLE001
            log_text = f"(log unavailable: {backend.user_message(exc)})"
        return [
            job_summary(job),
            gr.update(value=plot_value(c["loss"]), x_title=x_title),
            gr.update(value=plot_value(c["metrics"]), x_title=x_title),
            gr.update(value=plot_value(c["lr"]), x_title=x_title),
            log_text,
            spec_yaml(job) if seen is None or seen[0] != job_id else gr.skip(),
            stamp,
        ]

    def details_stream(job_id, x, seen, force=False, viewer=None):
        """details(), preceded by clearing the charts whose set of lines changed.

        Gradio 6's native plots keep the colour legend of the first data they drew: a line
        added later (eval loss after the first evaluation) is not drawn unless the chart was
        cleared (value None) first.
        """
        out = details(job_id, x, seen, force, viewer)
        new = out[-1]
        if new is not None:
            old_lines = seen[-1] if isinstance(seen, tuple) and len(seen) == len(new) else None
            reset = [force or old_lines is None or old_lines[i] != new[-1][i] for i in range(3)]
            if any(reset):
                yield [gr.skip()] + [None if r else gr.skip() for r in reset] + [gr.skip()] * 2 + [seen]
        yield out

    detail_outputs = [summary, loss_plot, metrics_plot, lr_plot, logs, spec, last_seen]
    timer.tick(
        refresh_table, None, [table, select, notice], show_progress="hidden", trigger_mode="always_last"
    )

    def details_tick(job_id, x, seen, request: gr.Request):
        yield from details_stream(job_id, x, seen, viewer=viewer_of(request))

    timer.tick(
        details_tick,
        [select, x_axis, last_seen],
        detail_outputs,
        show_progress="hidden",
        trigger_mode="always_last",
    )

    def forced(job_id, x, request: gr.Request):
        yield from details_stream(job_id, x, None, force=True, viewer=viewer_of(request))

    select.change(forced, [select, x_axis], detail_outputs, show_progress="hidden")
    x_axis.change(forced, [select, x_axis], detail_outputs, show_progress="hidden")

    def on_row(evt: gr.SelectData, frame):
        try:
            row = evt.index[0]
            return str(int(frame.iloc[row]["id"]))
        except Exception:  # noqa: BLE001 - a click outside the data
            return gr.skip()

    table.select(on_row, [table], [select])

    def act(action):
        def handler(job_id, x, request: gr.Request):
            viewer = viewer_of(request)
            message = run_action(action, job_id, viewer)
            jobs, problem = safe_jobs(viewer)
            selected = job_id
            if action == "delete" and not message.startswith("✗"):
                selected = None
            head = [message, jobs_frame(jobs), gr.update(choices=job_choices(jobs), value=selected)]
            for out in details_stream(selected, x, None, force=True, viewer=viewer):
                yield head + out

        return handler

    for action, button in (
        ("cancel", cancel_btn),
        ("resume", resume_btn),
        ("retry", retry_btn),
        ("delete", delete_btn),
    ):
        button.click(
            act(action),
            [select, x_axis],
            [action_status, table, select, *detail_outputs],
            show_progress_on=[action_status],
        )

    tab = JobsTab(
        table=table,
        select=select,
        clone_btn=clone_btn,
        action_status=action_status,
        refresh=lambda viewer=None: job_choices(safe_jobs(viewer)[0]),
        notice=notice,
    )
    return tab


def wire_load(demo: gr.Blocks, tab: JobsTab) -> None:
    """The selected job survives a page reload (browser local storage); the list fills at once.

    Call at the top level of the Blocks: a BrowserState inside a tab that is not shown yet is
    not mounted, and its stored value would not reach the load event.
    """
    remembered = gr.BrowserState(None, storage_key="neat-studio-selected-job", secret=config.browser_secret())
    # saved in the browser itself (no round trip), so even an immediate reload finds it
    tab.select.change(None, [tab.select], [remembered], js="(job) => job", show_progress="hidden")

    def on_load(saved, request: gr.Request):
        jobs, problem = safe_jobs(viewer_of(request))
        choices = job_choices(jobs)
        value = saved if saved in {v for _, v in choices} else None
        return jobs_frame(jobs), gr.update(choices=choices, value=value), problem

    demo.load(on_load, [remembered], [tab.table, tab.select, tab.notice], show_progress="hidden")
