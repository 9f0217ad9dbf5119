"""The Jobs tab's rules: which buttons apply to a job, what Delete asks, the ETA column, the
page line, and how charts are fed (never blanked, "no points yet" when empty)."""

from __future__ import annotations

import pandas as pd
import pytest

from app.tabs import jobs_tab
from app.tabs.job_actions import allowed_actions, deletion_question, fmt_bytes
from app.tabs.line_charts import NO_POINTS, chart_update, color_map, integer_axis, legend_update, lines_of


def _job(status, **extra):
    return {
        "id": 3,
        "name": "neat-sst",
        "status": status,
        "output_dir": "/runs/3",
        "checkpoint_step": None,
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "checkpoint", "enabled"),
    [
        ("queued", None, {"cancel", "clone", "delete"}),
        ("running", 10, {"cancel", "clone"}),
        ("succeeded", 30, {"retry", "clone", "delete", "playground"}),
        ("failed", None, {"retry", "clone", "delete"}),
        ("failed", 10, {"resume", "retry", "clone", "delete"}),
        ("cancelled", 10, {"resume", "retry", "clone", "delete"}),
        ("interrupted", None, {"retry", "clone", "delete"}),
    ],
)
def test_buttons_are_enabled_only_where_the_action_applies(status, checkpoint, enabled):
    rules = allowed_actions(_job(status, checkpoint_step=checkpoint))
    assert {name for name, on in rules.items() if on} == enabled


def test_no_job_no_buttons_and_a_pending_cancel_is_not_offered_twice():
    assert not any(allowed_actions(None).values())
    assert allowed_actions(_job("running", cancel_requested=True))["cancel"] is False


def test_delete_asks_naming_what_goes():
    plan = {
        "id": 5,
        "name": "neat-sst",
        "folder": "/runs/5-neat-sst",
        "exists": True,
        "adapter": True,
        "checkpoints": 3,
        "bytes": 12_345_678,
    }
    text = deletion_question(plan)
    assert "#5 neat-sst" in text and "the trained adapter and 3 checkpoints" in text
    assert "12.3 MB" in text and "/runs/5-neat-sst" in text
    assert "no run folder" in deletion_question({**plan, "exists": False})
    assert fmt_bytes(999) == "999 bytes" and fmt_bytes(1_500) == "1.5 KB"


def test_eta_column_shows_the_final_phase_and_nothing_once_stopped():
    assert jobs_tab.eta_text(_job("running", progress=0.5, eta_seconds=75)) == "1m 15s"
    assert jobs_tab.eta_text(_job("running", progress=1.0, eta_seconds=40)) == "final evaluation… 40s"
    for status in ("cancelled", "interrupted", "failed", "succeeded"):
        assert jobs_tab.eta_text(_job(status, progress=0.4, eta_seconds=40)) == ""
    assert "final evaluation" in jobs_tab.job_summary(_job("running", progress=1.0, eta_seconds=9))


def test_page_line():
    assert jobs_tab.page_label(0, 0) == "Page 1 of 1 · 0 jobs"
    assert jobs_tab.page_label(3, 10_000) == "Page 4 of 200 · 10,000 jobs"


def test_charts_are_never_blanked_and_redraw_in_a_second_step():
    empty = chart_update(None, "x", "value", "series")
    assert empty["value"] is not None and empty["value"].empty and set(empty) == {"__type__", "value"}
    assert legend_update((), "Loss")["title"] == f"Loss — {NO_POINTS}"
    one = pd.DataFrame({"x": [1.0], "value": [0.7], "series": ["train loss"]})
    assert set(chart_update(one, "x", "value", "series")) == {"__type__", "value"}  # data alone
    drawing = legend_update(lines_of(one, "series"), "Loss", x_title="epoch")
    assert drawing["title"] == "Loss" and drawing["color_map"] == {"train loss": "#1f77b4"}
    assert drawing["x_title"] == "epoch"
    # a new line changes the colour map (the chart redraws its legend) but keeps the old colours
    both = color_map(["eval loss", "train loss", "accuracy"])
    assert both["train loss"] == "#1f77b4" and both["eval loss"] == "#ff7f0e" and len(set(both.values())) == 3


def test_integer_axis_is_text_in_numeric_order():
    frame = pd.DataFrame({"layer": [10.0, 2.0, 0.0], "v": [1, 2, 3]})
    out, order = integer_axis(frame, "layer")
    assert order == ["0", "2", "10"] and list(out["layer"]) == ["10", "2", "0"]


def test_a_selected_job_deleted_elsewhere_stays_in_the_picker(monkeypatch):
    from app import backend

    def gone(job_id, viewer=None):
        raise backend.UserError(f"job {job_id} does not exist")

    monkeypatch.setattr(backend, "get_job", gone)
    choices = jobs_tab.page_choices([{"id": 7, "name": "other", "status": "queued"}], "4")
    assert ("#4 (no longer exists)", "4") in choices and choices[-1][1] == "7"
