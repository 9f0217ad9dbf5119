"""build_app(): the five tabs and the components the browser tests and users rely on."""

from __future__ import annotations

import gradio as gr

from app.ui import build_app, launch_kwargs


def test_build_app_has_every_tab_and_key_component(neat_home):
    demo = build_app()
    assert isinstance(demo, gr.Blocks)
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    for tab in ("train", "jobs", "compare", "playground", "insight"):
        assert f"tab-{tab}" in ids
    for elem in (
        "model-path",
        "data-upload",
        "err-dataset",
        "err-method",
        "param-budget",
        "spec-yaml",
        "start-btn",
        "jobs-table",
        "job-select",
        "loss-plot",
        "job-logs",
        "job-cancel",
        "job-resume",
        "job-retry",
        "job-clone",
        "job-delete",
        "compare-plot",
        "compare-diff",
        "pg-job",
        "pg-predict",
        "pg-chat-base",
        "pg-chat-adapted",
        "pg-image",
        "pg-adapter-zip",
        "pg-merged-zip",
        "insight-norms",
        "insight-spectrum",
    ):
        assert elem in ids, elem
    timers = [b for b in demo.blocks.values() if isinstance(b, gr.Timer)]
    # the Jobs and Evaluate tabs' refresh (stopped until their tab opens) and the footer's
    live = sorted((t.value, t.active) for t in timers)
    assert [active for _, active in live] == [False, False, True], live
    assert all(0 < value <= 5 for value, active in live if not active)


def test_theme_and_css_go_to_launch():
    kwargs = launch_kwargs()
    assert set(kwargs) == {"theme", "css", "js"} and ".field-error" in kwargs["css"]
    assert "#forget-upload" in kwargs["js"]
