"""Evaluate tab: score finished jobs on held-out data and look at the errors.

Pick one or more finished jobs and the data (each job's own test split, an uploaded file or a
server path the app may read); Evaluate queues one evaluation job per run job, which the worker
runs like training (shown in Jobs; the page never waits). The results of up to two evaluations
(or of the test split a run was scored on after training) sit side by side: the metrics with
their n, the confusion matrix, per-class scores, the misclassified examples by confidence,
base vs adapted answers for chat, and predictions.csv to download.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from app import backend, evaluation_view
from app.access import viewer_of
from app.tabs import charts, eval_results
from app.tabs.playground import stage_for_download
from app.tabs.shared import job_choices, job_picker, picker_jobs, safe_jobs
from app.uploads import DATA_EXTENSIONS, UploadError, store_upload

DATA_TEST = "Each job's test split"
DATA_UPLOAD = "Upload a file"
DATA_PATH = "A file on the server"
PANELS = 2  # results shown side by side
FINAL = ("succeeded", "failed", "cancelled", "interrupted", "error")


@dataclass
class ResultPanel:
    column: gr.Column
    heading: gr.Markdown
    metrics: gr.Dataframe
    confusion: gr.Plot
    bars: gr.Plot
    gallery: gr.Gallery
    errors: gr.Dataframe
    chat: gr.Dataframe
    download: gr.File

    def outputs(self) -> list:
        return [
            self.column,
            self.heading,
            self.metrics,
            self.confusion,
            self.bars,
            self.gallery,
            self.errors,
            self.chat,
            self.download,
        ]


@dataclass
class EvaluateTab:
    jobs: gr.Dropdown
    results: gr.Dropdown
    refresh: callable  # current job selection, request -> update of the job picker


def _panel(index: int) -> ResultPanel:
    with gr.Column(visible=index == 0) as column:
        heading = gr.Markdown("Choose a result above.", elem_id=f"eval-heading-{index}")
        metrics = gr.Dataframe(
            pd.DataFrame(columns=eval_results.METRICS_COLUMNS),
            label="Metrics",
            interactive=False,
            elem_id=f"eval-metrics-{index}",
        )
        confusion = gr.Plot(label="Confusion matrix", visible=False, elem_id=f"eval-confusion-{index}")
        bars = gr.Plot(label="Per-class precision, recall, F1", visible=False, elem_id=f"eval-bars-{index}")
        gallery = gr.Gallery(
            label="Misclassified images (most confident first)",
            visible=False,
            columns=6,
            height=260,
            elem_id=f"eval-gallery-{index}",
        )
        errors = gr.Dataframe(
            label="Misclassified examples (most confident first)",
            interactive=False,
            visible=False,
            wrap=True,
            max_height=320,
            elem_id=f"eval-errors-{index}",
        )
        chat = gr.Dataframe(
            label="Held-out prompts: base vs adapted answers",
            interactive=False,
            visible=False,
            wrap=True,
            max_height=420,
            elem_id=f"eval-chat-{index}",
        )
        download = gr.File(label="predictions.csv", visible=False, elem_id=f"eval-download-{index}")
    return ResultPanel(column, heading, metrics, confusion, bars, gallery, errors, chat, download)


def panel_values(result: dict | None) -> list:
    """The updates of one panel's outputs (ResultPanel.outputs order) for a result (None: hidden)."""
    if result is None:
        return [gr.update(visible=False)] + [gr.update()] * 8
    metrics = result.get("metrics") or {}
    predictions = result.get("predictions")
    errors = eval_results.misclassified(predictions)
    chat = eval_results.chat_table(predictions)
    matrix, labels = metrics.get("confusion_matrix"), metrics.get("labels")
    confusion = charts.confusion_heatmap(labels, matrix) if matrix and labels else None
    per_class = metrics.get("per_class")
    bars = charts.class_bars(per_class) if per_class else None
    thumbs = eval_results.thumbnails(errors, result)
    download = None
    if result.get("predictions_path"):
        job = result.get("job") or {}
        owner_id = job.get("id") if result.get("kind") == "eval" else (result.get("run_job") or {}).get("id")
        download = stage_for_download(result["predictions_path"], owner_id)
    labelled = {"label", "prediction"} <= set(getattr(predictions, "columns", []))
    return [
        gr.update(visible=True),
        eval_results.heading(result),
        eval_results.metrics_table(metrics),
        gr.update(value=confusion, visible=confusion is not None),
        gr.update(value=bars, visible=bars is not None),
        gr.update(value=thumbs, visible=bool(thumbs)),
        gr.update(
            value=errors, visible=labelled and not errors.empty and "adapted_answer" not in predictions
        ),
        gr.update(value=chat, visible=not chat.empty),
        gr.update(value=download, visible=download is not None),
    ]


def show_results(choices: list[str] | None, viewer=None) -> tuple[list, tuple]:
    """Every panel's updates for the chosen results, and a stamp of what they show (so a refresh
    tick redraws only when an evaluation moved on)."""
    chosen = [c for c in (choices or []) if c][:PANELS]
    values, stamp = [], []
    for index in range(PANELS):
        if index >= len(chosen):
            values += panel_values(None) if index else _blank_first()
            continue
        try:
            result = eval_results.load(chosen[index], viewer)
        except Exception as exc:  # noqa: BLE001 - deleted meanwhile, or another account's
            values += [gr.update(visible=True), f"⚠ {backend.user_message(exc)}"] + [gr.update()] * 7
            stamp.append((chosen[index], "error"))
            continue
        job = result.get("job") or {}
        values += panel_values(result)
        stamp.append((chosen[index], job.get("status"), job.get("progress"), bool(result.get("metrics"))))
    return values, tuple(stamp)


def _blank_first() -> list:
    empty = pd.DataFrame(columns=eval_results.METRICS_COLUMNS)
    hidden = gr.update(visible=False, value=None)
    return [gr.update(visible=True), "Choose a result above.", empty] + [hidden] * 6


def queue_evaluations(job_ids, kind, stored, server_path, columns_text, viewer=None) -> tuple[str, list[str]]:
    """Check the choices, then queue one evaluation per job: (message, new result choices)."""
    ids = [int(i) for i in (job_ids or []) if i]
    if not ids:
        return "✗ Choose at least one finished job.", []
    try:
        columns = evaluation_view.parse_columns(columns_text)
    except backend.UserError as exc:
        return f"✗ {exc}", []
    data = None
    if kind == DATA_UPLOAD:
        if not stored:
            return "✗ Upload a data file first.", []
        data = str(stored)
    elif kind == DATA_PATH:
        ref = (server_path or "").strip()
        if not ref:
            return "✗ Type the path of a data file or folder.", []
        data = ref  # backend.submit_evaluation refuses paths the app may not read
    try:
        new = backend.submit_evaluation(ids, data=data, columns=columns, viewer=viewer)
    except Exception as exc:  # noqa: BLE001 - refused by the queue (e.g. a job not finished)
        return f"✗ {backend.user_message(exc)}", []
    pairs = ", ".join(f"#{e} (job #{j})" for e, j in zip(new, ids, strict=False))
    return f"Queued evaluation {pairs}; it runs in the worker, progress in Jobs.", [f"eval:{e}" for e in new]


def build(timer: gr.Timer) -> EvaluateTab:
    gr.Markdown(
        "Score finished jobs on held-out data: each job's own test split, an uploaded file or a "
        "file on the server. Evaluations run in the worker (see Jobs); choose up to two results "
        "to see them side by side. A file without labels gives predictions only."
    )
    with gr.Row():
        jobs = job_picker(
            choices=[], value=[], multiselect=True, label="Finished jobs", elem_id="eval-jobs", scale=4
        )
        refresh_btn = gr.Button("Refresh", size="sm", scale=0)
    with gr.Row():
        kind = gr.Radio(
            [DATA_TEST, DATA_UPLOAD, DATA_PATH], value=DATA_TEST, label="Data", elem_id="eval-data-kind"
        )
        columns = gr.Textbox(
            label="Columns (optional)",
            placeholder="text=review,label=sentiment (blank: the job's own)",
            elem_id="eval-columns",
        )
    upload = gr.File(
        label="Data file",
        file_types=list(DATA_EXTENSIONS),
        visible=False,
        elem_id="eval-upload",
        type="filepath",
    )
    stored = gr.Textbox(visible=False, elem_id="eval-stored")  # the stored copy of the upload
    server_path = gr.Textbox(label="Path on the server", visible=False, elem_id="eval-path")
    evaluate_btn = gr.Button("Evaluate", variant="primary", elem_id="eval-start")
    status = gr.Markdown("", elem_id="eval-status")
    results = job_picker(
        choices=[],
        value=[],
        multiselect=True,
        max_choices=PANELS,
        label="Results to show",
        elem_id="eval-results",
    )
    with gr.Row(equal_height=False):
        panels = [_panel(i) for i in range(PANELS)]
    shown = gr.State(None)  # stamp of what the panels show
    panel_outputs = [o for p in panels for o in p.outputs()]

    def refresh_jobs(current, request: gr.Request):
        jobs_list = picker_jobs(viewer_of(request), status="succeeded", keep=current or [])
        choices = job_choices(jobs_list, statuses=("succeeded",))
        valid = {v for _, v in choices}
        return gr.update(choices=choices, value=[c for c in (current or []) if c in valid])

    def result_list(viewer) -> list[tuple[str, str]]:
        jobs_list, _ = safe_jobs(viewer)
        try:
            evaluations = backend.list_evaluations(viewer)
        except Exception:  # noqa: BLE001 - the store unreachable: the job list says so
            evaluations = []
        return eval_results.result_choices(evaluations, jobs_list)

    kind.change(
        lambda k: (gr.update(visible=k == DATA_UPLOAD), gr.update(visible=k == DATA_PATH)),
        [kind],
        [upload, server_path],
        show_progress="hidden",
    )

    def on_upload(file):
        if not file:
            return "", ""
        try:
            return str(store_upload(file)), ""
        except UploadError as exc:
            return "", f"✗ {exc}"

    upload.upload(on_upload, [upload], [stored, status])
    upload.clear(lambda: ("", ""), None, [stored, status])

    def on_evaluate(job_ids, k, stored_path, path, cols, current, request: gr.Request):
        viewer = viewer_of(request)
        message, new = queue_evaluations(job_ids, k, stored_path, path, cols, viewer)
        choices = result_list(viewer)
        value = (new or list(current or []))[:PANELS]
        values, stamp = show_results(value, viewer)
        return [message, gr.update(choices=choices, value=value), *values, stamp]

    evaluate_btn.click(
        on_evaluate,
        [jobs, kind, stored, server_path, columns, results],
        [status, results, *panel_outputs, shown],
        concurrency_limit=4,
        show_progress_on=[status],
    )

    def on_results(choices, request: gr.Request):
        values, stamp = show_results(choices, viewer_of(request))
        return [*values, stamp]

    results.change(on_results, [results], [*panel_outputs, shown], show_progress="hidden")

    listed_seen = gr.State(None)  # the result list's choices as last sent

    def on_tick(choices, seen, listed_before, request: gr.Request):
        """Keep the result list current, and redraw panels whose evaluation moved on; what has
        not changed is skipped (a redraw every tick keeps the browser busy)."""
        viewer = viewer_of(request)
        listed = result_list(viewer)
        listed_key = tuple(listed)
        # an unchanged view writes nothing, its stamp included: a stale stamp written back after
        # a concurrent event redrew the view would make later ticks skip a view that is wrong
        unchanged = listed_key == listed_before
        picker = gr.skip() if unchanged else gr.update(choices=listed)
        listed_state = gr.skip() if unchanged else listed_key
        valid = {v for _, v in listed}
        kept = [c for c in (choices or []) if c in valid]
        skip = [gr.skip()] * len(panel_outputs)
        if not kept:
            return [picker, *skip, gr.skip(), listed_state]
        same = isinstance(seen, tuple) and [s[0] for s in seen] == kept[:PANELS]
        if same and all(s[1] in FINAL for s in seen):
            return [picker, *skip, gr.skip(), listed_state]  # finished results do not change
        values, stamp = show_results(kept, viewer)
        if stamp == seen:
            return [picker, *skip, gr.skip(), listed_state]
        return [picker, *values, stamp, listed_state]

    timer.tick(
        on_tick,
        [results, shown, listed_seen],
        [results, *panel_outputs, shown, listed_seen],
        show_progress="hidden",
        trigger_mode="always_last",
    )
    refresh_btn.click(refresh_jobs, [jobs], [jobs])
    return EvaluateTab(jobs=jobs, results=results, refresh=refresh_jobs)
