"""build_app(): the whole UI as one gr.Blocks — six tabs, refresh timers that tick only on their
tab, no training here.

Each tab wires its own events; the two that cross tabs live here: Start (Train -> the new job
in Jobs) and Clone (a job's spec -> the Train form).
"""

from __future__ import annotations

import gradio as gr

from app import backend, config
from app.access import viewer_of
from app.page_state import OpenTab, wire_footer, wire_open_tab
from app.tabs import compare, evaluate, insight, jobs_tab, playground, train
from app.tabs.line_charts import SINGLE_POINT_CSS
from app.tabs.train.events import error_outputs, form_updates, refresh_after
from app.tabs.train.form import spec_to_form
from app.tabs.train.layout import values_of
from app.tabs.train.start import start

REFRESH_SECONDS = 2.0

CSS = """
.field-error, .field-error * { color: #b91c1c !important; }
.field-error:empty { display: none; }
.field-error ul { margin: 0.2em 0 0.4em 0; }
.preset-help { font-size: 0.9em; opacity: 0.8; cursor: help; }
#start-status { font-weight: 600; }
.hidden-control { display: none !important; }
#hardware-line { font-size: 0.85em; opacity: 0.8; }
"""
CSS += SINGLE_POINT_CSS

# A file picked (or dropped) on the upload widget first forgets the stored one, so an upload the
# browser refuses (over the size limit) cannot leave the previous file to train on.
JS = """
() => {
  const forget = (event) => {
    if (event.target.closest && event.target.closest("#data-upload")) {
      document.querySelector("#forget-upload")?.click();
    }
  };
  document.addEventListener("change", (e) => e.target.type === "file" && forget(e), true);
  document.addEventListener("drop", forget, true);
}
"""

THEME = gr.themes.Soft(primary_hue="emerald", secondary_hue="sky")


def build_app() -> gr.Blocks:
    with gr.Blocks(title="NEAT Studio") as demo:
        gr.Markdown("# NEAT Studio\nNo-code fine-tuning with NEAT, the nonlinear parameter-efficient method.")
        # started and stopped by OpenTab: a tab's timer ticks only while the tab is open
        timers = {tab: gr.Timer(REFRESH_SECONDS, active=False) for tab in ("jobs", "evaluate")}
        opened = {"jobs": gr.State(False)}  # raised when the tab opens: see OpenTab
        with gr.Tabs(selected="train", elem_id="main-tabs") as tabs:
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                train_tab = train.build()
            with gr.Tab("Jobs", id="jobs", elem_id="tab-jobs"):
                jobs_view = jobs_tab.build(timers["jobs"], opened["jobs"])
            with gr.Tab("Evaluate", id="evaluate", elem_id="tab-evaluate") as evaluate_page:
                evaluate_tab = evaluate.build(timers["evaluate"])
            with gr.Tab("Compare", id="compare", elem_id="tab-compare") as compare_page:
                compare_tab = compare.build()
            with gr.Tab("Playground", id="playground", elem_id="tab-playground") as playground_page:
                playground_tab = playground.build()
            with gr.Tab("Insight", id="insight", elem_id="tab-insight") as insight_page:
                insight_tab = insight.build()

        # cross-tab wiring: Start jumps to the new job; Clone fills the form from a job. A handler
        # that opens a tab goes through OpenTab, so a reload lands there too and its timer runs.
        open_tab = OpenTab(tabs, timers, opened)
        wire_start(train_tab, open_tab, jobs_view)
        wire_clone(jobs_view, train_tab, open_tab)

        # Try in Playground: the selected succeeded job, loaded in the Playground
        def try_in_playground(job_id, request: gr.Request):
            return [*open_tab.open("playground"), playground_tab.refresh(job_id, request)]

        jobs_view.playground_btn.click(
            try_in_playground,
            [jobs_view.select],
            [*open_tab.outputs, playground_tab.select],
            show_progress="hidden",
        )

        # pickers of finished jobs refresh when their tab is opened
        evaluate_page.select(evaluate_tab.refresh, [evaluate_tab.jobs], [evaluate_tab.jobs])
        compare_page.select(compare_tab.refresh, [compare_tab.chosen], [compare_tab.chosen])
        groups = compare_tab.groups
        compare_page.select(groups.refresh, [groups.group], [groups.group])
        playground_page.select(playground_tab.refresh, [playground_tab.select], [playground_tab.select])
        insight_page.select(
            insight_tab.refresh,
            [insight_tab.neat_select, insight_tab.lora_select],
            [insight_tab.neat_select, insight_tab.lora_select],
        )

        # on page load: describe the default model and dataset, list the jobs
        train.events.wire_load(demo, train_tab)
        jobs_tab.wire_load(demo, jobs_view)
        pages = [page for page in demo.blocks.values() if isinstance(page, gr.Tab)]
        wire_open_tab(demo, open_tab, pages)
        wire_footer(demo)
    return demo


def wire_start(train_tab, open_tab: OpenTab, jobs_view) -> None:
    """Start: validate, queue (or show errors next to their fields), then jump to the job."""

    def on_start(request: gr.Request, *args):
        values = values_of(args)
        viewer = viewer_of(request)
        result = start(values, viewer)
        out = error_outputs(train_tab, result.errors)
        if result.errors:
            out[train_tab.status] = f"✗ {result.message}"
            return out
        out[train_tab.status] = result.message
        out.update(open_tab.updates("jobs"))
        out[jobs_view.select] = gr.update(choices=jobs_view.refresh(viewer), value=str(result.job_ids[0]))
        return out

    # the previous Start's message goes at once: what shows next is about this Start's jobs only
    train_tab.start_btn.click(lambda: "", None, train_tab.status, queue=False, show_progress="hidden").then(
        on_start,
        train_tab.inputs(),
        [*train_tab.errors.values(), train_tab.status, *open_tab.outputs, jobs_view.select],
        concurrency_limit=4,
        show_progress_on=[train_tab.status],
    )


def wire_clone(jobs_view, train_tab, open_tab: OpenTab) -> None:
    """Clone: the selected job's spec back into the Train form, then show the form."""
    outputs = [*train_tab.inputs(), *open_tab.outputs, jobs_view.action_status, train_tab.status]

    def on_clone(job_id, request: gr.Request):
        if not job_id:
            return {jobs_view.action_status: "Select a job first."}
        try:
            spec = backend.job_spec(backend.get_job(int(job_id), viewer_of(request)))
        except Exception as exc:  # noqa: BLE001
            return {jobs_view.action_status: f"✗ {backend.user_message(exc)}"}
        if spec is None:
            return {jobs_view.action_status: f"Job #{job_id} is an evaluation; clone the job it scored."}
        values = spec_to_form(spec, uploads_root=config.uploads_dir())
        values["name"] = f"{spec.name}-copy"
        out = form_updates(values, train_tab)
        out.update(open_tab.updates("train"))
        out[jobs_view.action_status] = f"Cloned job #{job_id} into the Train form."
        out[train_tab.status] = f"Form filled from job #{job_id}; change what you like and press Start."
        return out

    clicked = jobs_view.clone_btn.click(on_clone, [jobs_view.select], outputs, show_progress="hidden")
    refresh_after(clicked, train_tab)


def launch_kwargs() -> dict:
    """Theme, CSS and page scripts belong to launch() in Gradio 6."""
    return {"theme": THEME, "css": CSS, "js": JS}
