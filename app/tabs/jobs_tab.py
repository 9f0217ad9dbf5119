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
from app.tabs.eval_results import best_metric_text, test_metric_text
from app.tabs.job_actions import BUTTONS, allowed_actions, deletion_question
from app.tabs.line_charts import chart_update, empty_frame, empty_title, legend_update, lines_of
from app.tabs.shared import best_metric, job_choices, job_picker, method_label, metrics_frame

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
PAGE_SIZE = 50
STATUS_FILTERS = ["all", "queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
FINAL_PHASE = "final evaluation…"


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


def eta_text(job: dict) -> str:
    """What the ETA column says: time left for a running job (its final evaluation and save
    included), the phase once the steps are done, nothing for a job that is not running."""
    if job.get("status") != "running":
        return ""
    eta = fmt_eta(job.get("eta_seconds"))
    if (job.get("progress") or 0.0) >= 1.0:
        return f"{FINAL_PHASE} {eta}".strip()
    return eta


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
                eta_text(job),
                best_metric_text(job),  # validation, with its n once the run has finished
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
    if eta_text(job):
        eta = eta_text(job)
        facts.append(eta if eta.startswith(FINAL_PHASE) else f"ETA {eta}")
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


def run_action(action: str, job_id, viewer=None, keep_files: bool = False) -> str:
    """Do cancel/resume/retry/delete (of a job `viewer` may see) and say what happened, in words."""
    if not job_id:
        return "Select a job first."
    try:
        result = backend.job_action(action, int(job_id), viewer, keep_files=keep_files)
    except Exception as exc:  # noqa: BLE001 - e.g. "cannot resume a succeeded job"
        return f"✗ {backend.user_message(exc)}"
    verbs = {"cancel": "Cancel requested for", "resume": "Resuming", "retry": "Retrying", "delete": "Deleted"}
    text = f"{verbs[action]} job #{job_id}"
    if action == "retry" and isinstance(result, int) and result != int(job_id):
        text += f" as new job #{result}"
    if action == "delete" and keep_files:
        text += "; its run folder was kept on disk"
    return text + "."


def page_label(page: int, total: int) -> str:
    pages = max(1, -(-total // PAGE_SIZE))
    return f"Page {min(page, pages - 1) + 1} of {pages} · {total:,} job{'s' if total != 1 else ''}"


def page_choices(jobs: list[dict], selected=None, viewer=None) -> list[tuple[str, str]]:
    """The picker's choices: this page's jobs, and the selected one even when it is on another page."""
    choices = job_choices(jobs)
    if selected and str(selected) not in {v for _, v in choices}:
        try:
            choices = job_choices([backend.get_job(int(selected), viewer)]) + choices
        except Exception:  # noqa: BLE001 - deleted meanwhile: still offered, so the picker keeps
            # its value (a value missing from the choices fails every later event that reads it)
            choices = [(f"#{selected} (no longer exists)", str(selected))] + choices
    return choices


def read_page(viewer, status_filter, name_filter, page) -> tuple[list[dict], int, int, str]:
    """(jobs, total, page, problem) for the table's filters; the page is clamped to what exists."""
    status = None if status_filter in (None, "", "all") else status_filter
    try:
        name = (name_filter or "").strip() or None
        jobs, total = backend.list_jobs_page(viewer, status, name, page or 0, PAGE_SIZE)
    except Exception as exc:  # noqa: BLE001 - the store unreachable: say so in the table's place
        return [], 0, 0, f"⚠ Cannot read the job list: {backend.user_message(exc)}"
    page = max(0, min(int(page or 0), max(0, (total - 1) // PAGE_SIZE)))
    return jobs, total, page, ""


# ---- the Gradio tab --------------------------------------------------------------------------------


@dataclass
class JobsTab:
    table: gr.Dataframe
    select: gr.Dropdown
    clone_btn: gr.Button
    playground_btn: gr.Button
    action_status: gr.Markdown
    refresh: callable
    notice: gr.Markdown
    page_text: gr.Markdown


def _curve_plot(title: str, elem_id: str, y_title: str | None = None) -> gr.LinePlot:
    """One of the job's live charts: a line per series over steps (or epochs)."""
    return gr.LinePlot(
        empty_frame(["x", "value", "series"]),
        x="x",
        y="value",
        color="series",
        title=empty_title(title),
        x_title="step",
        y_title=y_title,
        elem_id=elem_id,
        elem_classes=["line-chart"],
        height=260,
    )


CHART_TITLES = ("Loss", "Evaluation metrics", "Learning rate")


def _chart(frame):
    return chart_update(frame, "x", "value", "series")


def build(timer: gr.Timer, opened: gr.State) -> JobsTab:
    """The tab; `timer` ticks while it is open, `opened` is raised each time it opens."""
    gr.Markdown("All jobs, newest first; the list refreshes by itself. Click a row or pick a job below.")
    notice = gr.Markdown("", elem_id="jobs-notice")
    with gr.Row():
        status_filter = gr.Dropdown(
            STATUS_FILTERS, value="all", label="Status", elem_id="jobs-status-filter", scale=1, min_width=140
        )
        name_filter = gr.Textbox(
            label="Name contains", elem_id="jobs-name-filter", scale=2, placeholder="e.g. sst", max_lines=1
        )
        prev_btn = gr.Button("◀ Newer", elem_id="jobs-prev", size="sm", scale=0, min_width=90)
        page_text = gr.Markdown(page_label(0, 0), elem_id="jobs-page")
        next_btn = gr.Button("Older ▶", elem_id="jobs-next", size="sm", scale=0, min_width=90)
    page = gr.State(0)
    table = gr.Dataframe(
        value=pd.DataFrame(columns=TABLE_COLUMNS),
        interactive=False,
        label="Jobs",
        elem_id="jobs-table",
        max_height=320,
        wrap=True,
    )
    with gr.Row():
        select = job_picker(choices=[], value=None, label="Selected job", elem_id="job-select", scale=3)
        x_axis = gr.Radio(["step", "epoch"], value="step", label="x axis", elem_id="x-axis", scale=1)
    summary = gr.Markdown(job_summary({}), elem_id="job-summary")
    with gr.Row():
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="job-cancel", size="sm", interactive=False)
        resume_btn = gr.Button("Resume", elem_id="job-resume", size="sm", interactive=False)
        retry_btn = gr.Button("Retry", elem_id="job-retry", size="sm", interactive=False)
        clone_btn = gr.Button("Clone into Train form", elem_id="job-clone", size="sm", interactive=False)
        delete_btn = gr.Button("Delete…", elem_id="job-delete", size="sm", interactive=False)
        playground_btn = gr.Button(
            "Try in Playground", elem_id="job-playground", size="sm", interactive=False
        )
    buttons = {
        "cancel": cancel_btn,
        "resume": resume_btn,
        "retry": retry_btn,
        "clone": clone_btn,
        "delete": delete_btn,
        "playground": playground_btn,
    }
    with gr.Group(visible=False, elem_id="delete-confirm") as confirm_box:
        confirm_text = gr.Markdown("", elem_id="delete-confirm-text")
        keep_files = gr.Checkbox(
            False,
            label="Keep the files: delete only the job's row, leave its run folder on disk",
            elem_id="delete-keep-files",
        )
        with gr.Row():
            confirm_btn = gr.Button("Delete", variant="stop", elem_id="delete-confirm-btn", size="sm")
            back_btn = gr.Button("Keep the job", elem_id="delete-back-btn", size="sm")
    pending_delete = gr.State(None)  # the job the open confirmation is about
    action_status = gr.Markdown("", elem_id="job-action-status")
    message_job = gr.State(None)  # the job action_status speaks of; another selection clears it
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
    last_rules = gr.State(None)  # which buttons are enabled now

    table_seen = gr.State(None)  # what the table, picker, notice and page line show now

    def table_outputs(viewer, status_f, name_f, page_no, selected, seen=None, **select_props):
        """The table, picker, notice and page line for these filters (select_props: e.g. value),
        and their stamp. Given the stamp of what is shown (`seen`), an unchanged view is skipped:
        redrawing a table and a picker every tick costs the browser far more than comparing."""
        jobs, total, page_no, problem = read_page(viewer, status_f, name_f, page_no)
        notice_text = problem or backend.worker_notice()
        choices = page_choices(jobs, selected, viewer)
        frame, label = jobs_frame(jobs), page_label(page_no, total)
        stamp = (frame.to_json(), tuple(choices), notice_text, label, page_no)
        if seen is not None and not select_props and seen == stamp:
            return [gr.skip()] * 6  # the stamp too: see button_updates
        picker = gr.update(choices=choices, **select_props)
        return [frame, picker, notice_text, label, page_no, stamp]

    table_io = [table, select, notice, page_text, page, table_seen]

    def refresh_table(status_f, name_f, page_no, selected, seen, request: gr.Request):
        return table_outputs(viewer_of(request), status_f, name_f, page_no, selected, seen)

    no_lines = ((), (), ())

    def _blank_details(summary_text, seen, force):
        """What details() shows when there is no job to draw: the summary line and empty charts."""
        stamp = ("blank", summary_text, no_lines)
        if not force and seen == stamp:
            return [gr.skip()] * 7
        return [summary_text, *(_chart(None) for _ in CHART_TITLES), "", "", stamp]

    def details(job_id, x, seen, force=False, viewer=None):
        """The detail panes' first step (summary, charts' data, log, spec) and their stamp: what
        they show, with the lines of each chart last, so an idle tick changes nothing."""
        if not job_id:
            return _blank_details(job_summary({}), seen, force)
        try:
            job = backend.get_job(int(job_id), viewer)
        except Exception as exc:  # noqa: BLE001 - e.g. deleted meanwhile
            return _blank_details(f"⚠ {backend.user_message(exc)}", seen, force)
        if not job:
            return _blank_details(f"Job #{job_id} no longer exists.", seen, force)
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
            return [gr.skip()] * 7
        c = curves(points, x)
        stamp = (*stamp, tuple(lines_of(c[k], "series") for k in ("loss", "metrics", "lr")))
        try:
            log_text = backend.get_logs(int(job_id), tail=200, viewer=viewer)
        except Exception as exc:  # noqa: BLE001
            log_text = f"(log unavailable: {backend.user_message(exc)})"
        return [
            job_summary(job),
            *(_chart(c[k]) for k in ("loss", "metrics", "lr")),
            log_text,
            spec_yaml(job) if not isinstance(seen, tuple) or seen[0] != job_id else gr.skip(),
            stamp,
        ]

    def legends(out, seen, force, x):
        """The second step after details(): the drawing properties (colours, titles) of each
        chart whose set of lines changed, once its new data is in place; None if none did."""
        new = out[-1]
        if not isinstance(new, tuple):  # details() skipped everything: nothing changed
            return None
        lines_new = new[-1]
        lines_old = seen[-1] if isinstance(seen, tuple) else None
        changed = [force or lines_old is None or lines_old[i] != lines_new[i] for i in range(3)]
        if not any(changed):
            return None
        x_title = "epoch" if x == "epoch" else "step"
        charts = [
            legend_update(lines_new[i], CHART_TITLES[i], x_title=x_title) if changed[i] else gr.skip()
            for i in range(3)
        ]
        return [gr.skip(), *charts, gr.skip(), gr.skip(), gr.skip()]

    def staged(head, out, seen, force, tail, x="step"):
        """Yield head + details + tail, then (if needed) the charts' drawing properties, with the
        tail (buttons, stamps) once more: a generator's last yield is what the page keeps, and
        with skips there the buttons were seen to fall back to their first, disabled state."""
        yield head + out + tail
        second = legends(out, seen, force, x)
        if second is not None:
            yield [gr.skip()] * len(head) + second + tail

    def button_updates(job_id, rules_seen, viewer=None):
        job = None
        if job_id:
            try:
                job = backend.get_job(int(job_id), viewer)
            except Exception:  # noqa: BLE001 - deleted meanwhile: nothing applies
                job = None
        rules = allowed_actions(job)
        key = tuple(rules[b] for b in BUTTONS)
        if key == rules_seen:
            # the stamp is skipped too: writing back this event's (maybe stale) copy of it, after
            # a concurrent action redrew the buttons, would leave them wrong for every later tick
            return [gr.skip()] * (len(BUTTONS) + 1)
        return [gr.update(interactive=rules[b]) for b in BUTTONS] + [key]

    detail_outputs = [summary, loss_plot, metrics_plot, lr_plot, logs, spec, last_seen]
    button_outputs = [*buttons.values(), last_rules]
    filters = [status_filter, name_filter, page, select]
    timer.tick(
        refresh_table, [*filters, table_seen], table_io, show_progress="hidden", trigger_mode="always_last"
    )

    def redraw(job_id, x, viewer, after=()):
        """Everything about the job drawn again, whatever the stamps say; `after`: more outputs."""
        out = details(job_id, x, None, force=True, viewer=viewer)
        yield from staged([], out, None, True, [*button_updates(job_id, None, viewer), *after], x)

    def details_tick(job_id, x, seen, rules_seen, just_opened, request: gr.Request):
        viewer = viewer_of(request)
        if just_opened:  # the first tick since the tab opened: redraw all, now that it is shown
            yield from redraw(job_id, x, viewer, after=[False])
            return
        out = details(job_id, x, seen, viewer=viewer)
        tail = [*button_updates(job_id, rules_seen, viewer), gr.skip()]
        yield from staged([], out, seen, False, tail, x)

    timer.tick(
        details_tick,
        [select, x_axis, last_seen, last_rules, opened],
        detail_outputs + button_outputs + [opened],
        show_progress="hidden",
        trigger_mode="always_last",
    )

    def forced(job_id, x, request: gr.Request):
        yield from redraw(job_id, x, viewer_of(request))

    x_axis.change(forced, [select, x_axis], detail_outputs + button_outputs, show_progress="hidden")

    def on_select(job_id, about):
        """A new selection: no message or question about another job. Its own event, apart from
        the slow details below, so that a Delete pressed right after choosing does not have its
        question closed by this selection's late answer."""
        keep = about is not None and str(about) == str(job_id or "")
        cleared = [gr.skip(), gr.skip()] if keep or (about is None and not job_id) else ["", None]
        return [*cleared, gr.update(visible=False), None]

    select.change(
        on_select,
        [select, message_job],
        [action_status, message_job, confirm_box, pending_delete],
        show_progress="hidden",
    )
    select.change(forced, [select, x_axis], detail_outputs + button_outputs, show_progress="hidden")

    def on_filter(status_f, name_f, selected, request: gr.Request):
        return table_outputs(viewer_of(request), status_f, name_f, 0, selected)

    status_filter.change(on_filter, [status_filter, name_filter, select], table_io, show_progress="hidden")
    name_filter.submit(on_filter, [status_filter, name_filter, select], table_io, show_progress="hidden")
    name_filter.blur(on_filter, [status_filter, name_filter, select], table_io, show_progress="hidden")

    def turn(step):
        def handler(status_f, name_f, page_no, selected, request: gr.Request):
            page_no = max(0, int(page_no or 0) + step)
            return table_outputs(viewer_of(request), status_f, name_f, page_no, selected)

        return handler

    prev_btn.click(turn(-1), filters, table_io, show_progress="hidden")
    next_btn.click(turn(+1), filters, table_io, show_progress="hidden")

    def on_row(evt: gr.SelectData, frame):
        try:
            row = evt.index[0]
            return str(int(frame.iloc[row]["id"]))
        except Exception:  # noqa: BLE001 - a click outside the data
            return gr.skip()

    table.select(on_row, [table], [select])

    def act(action):
        def handler(job_id, x, status_f, name_f, page_no, request: gr.Request):
            viewer = viewer_of(request)
            message = run_action(action, job_id, viewer)
            # the answer at once: the table and details below take seconds on a busy machine
            yield [message, job_id] + [gr.skip()] * (len(act_outputs) - 2)
            head = [gr.skip(), gr.skip()] + table_outputs(viewer, status_f, name_f, page_no, job_id)
            shown = details(job_id, x, None, force=True, viewer=viewer)
            yield from staged(head, shown, None, True, button_updates(job_id, None, viewer), x)

        return handler

    act_outputs = [action_status, message_job, *table_io, *detail_outputs, *button_outputs]
    for action in ("cancel", "resume", "retry"):
        buttons[action].click(
            act(action),
            [select, x_axis, status_filter, name_filter, page],
            act_outputs,
            show_progress_on=[action_status],
        )

    def ask_delete(job_id, request: gr.Request):
        """Delete asks first, naming what goes; nothing is removed until it is confirmed."""
        if not job_id:
            return gr.skip(), gr.skip(), None, "Select a job first.", None, gr.skip()
        try:
            plan = backend.deletion_plan(int(job_id), viewer_of(request))
        except Exception as exc:  # noqa: BLE001
            return gr.update(visible=False), "", None, f"✗ {backend.user_message(exc)}", job_id, gr.skip()
        if plan.get("status") == "running":
            text = f"✗ Job #{job_id} is running; cancel it before deleting it."
            return gr.update(visible=False), "", None, text, job_id, gr.skip()
        return gr.update(visible=True), deletion_question(plan), job_id, "", job_id, False

    delete_btn.click(
        ask_delete,
        [select],
        [confirm_box, confirm_text, pending_delete, action_status, message_job, keep_files],
        show_progress="hidden",
    )
    back_btn.click(
        lambda: (gr.update(visible=False), None, "Nothing was deleted."),
        None,
        [confirm_box, pending_delete, action_status],
        show_progress="hidden",
    )

    def confirm_delete(job_id, keep, x, status_f, name_f, page_no, request: gr.Request):
        viewer = viewer_of(request)
        message = run_action("delete", job_id, viewer, keep_files=bool(keep))
        selected = None if not message.startswith("✗") else job_id
        head = [gr.update(visible=False), None, message, None if selected is None else job_id]
        yield head + [gr.skip()] * (len(delete_outputs) - len(head))  # the answer at once
        head = [gr.skip()] * len(head)
        table_out = table_outputs(viewer, status_f, name_f, page_no, selected, value=selected)
        shown = details(selected, x, None, force=True, viewer=viewer)
        yield from staged(head + table_out, shown, None, True, button_updates(selected, None, viewer), x)

    delete_outputs = [confirm_box, pending_delete, action_status, message_job, *table_io, *detail_outputs]
    delete_outputs += button_outputs
    confirm_btn.click(
        confirm_delete,
        [pending_delete, keep_files, x_axis, status_filter, name_filter, page],
        delete_outputs,
        show_progress_on=[action_status],
    )

    tab = JobsTab(
        table=table,
        select=select,
        clone_btn=clone_btn,
        playground_btn=playground_btn,
        action_status=action_status,
        refresh=lambda viewer=None: job_choices(read_page(viewer, None, None, 0)[0]),
        notice=notice,
        page_text=page_text,
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
        viewer = viewer_of(request)
        jobs, total, _, problem = read_page(viewer, None, None, 0)
        choices = page_choices(jobs, saved, viewer)
        value = saved if saved in {v for _, v in choices} else None
        return jobs_frame(jobs), gr.update(choices=choices, value=value), problem, page_label(0, total)

    outputs = [tab.table, tab.select, tab.notice, tab.page_text]
    demo.load(on_load, [remembered], outputs, show_progress="hidden")
