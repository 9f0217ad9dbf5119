"""build_app(): the whole UI as one gr.Blocks — five tabs, one refresh timer, no training here."""

from __future__ import annotations

import gradio as gr

from app.tabs import compare, insight, jobs_tab, playground, train

REFRESH_SECONDS = 2.0

CSS = """
.field-error, .field-error * { color: #b91c1c !important; }
.field-error:empty { display: none; }
.field-error ul { margin: 0.2em 0 0.4em 0; }
.preset-help { font-size: 0.9em; opacity: 0.8; cursor: help; }
#start-status { font-weight: 600; }
"""

THEME = gr.themes.Soft(primary_hue="emerald", secondary_hue="sky")


def build_app() -> gr.Blocks:
    with gr.Blocks(title="NEAT Studio") as demo:
        gr.Markdown("# NEAT Studio\nNo-code fine-tuning with NEAT, the nonlinear parameter-efficient method.")
        timer = gr.Timer(REFRESH_SECONDS)
        with gr.Tabs(selected="train", elem_id="main-tabs") as tabs:
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                train_tab = train.build()
            with gr.Tab("Jobs", id="jobs", elem_id="tab-jobs"):
                jobs_view = jobs_tab.build(timer)
            with gr.Tab("Compare", id="compare", elem_id="tab-compare") as compare_page:
                compare_tab = compare.build()
            with gr.Tab("Playground", id="playground", elem_id="tab-playground") as playground_page:
                playground_tab = playground.build()
            with gr.Tab("Insight", id="insight", elem_id="tab-insight") as insight_page:
                insight_tab = insight.build()

        # cross-tab wiring: Start jumps to the new job; Clone fills the form from a job
        train.wire_start(train_tab, tabs, jobs_view.select, jobs_view.refresh)
        jobs_tab.wire_clone(jobs_view, train_tab, tabs)

        # pickers of finished jobs refresh when their tab is opened
        compare_page.select(compare_tab.refresh, [compare_tab.chosen], [compare_tab.chosen])
        playground_page.select(playground_tab.refresh, [playground_tab.select], [playground_tab.select])
        insight_page.select(
            insight_tab.refresh,
            [insight_tab.neat_select, insight_tab.lora_select],
            [insight_tab.neat_select, insight_tab.lora_select],
        )

        # on page load: describe the default model and dataset, list the jobs
        train.wire_load(demo, train_tab)
        jobs_tab.wire_load(demo, jobs_view)
    return demo


def launch_kwargs() -> dict:
    """Theme and CSS belong to launch() in Gradio 6."""
    return {"theme": THEME, "css": CSS}
