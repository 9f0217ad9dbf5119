"""The tables and curves the Jobs, Compare and Insight tabs draw, from plain job/metric data."""

from __future__ import annotations

import pandas as pd
import pytest

from app.tabs import compare, insight, jobs_tab, shared
from neat.engine.spec import example_spec


def _job(job_id, status="running", method="neat", r=8, **extra):
    spec = example_spec("classification").to_dict()
    spec["method"]["name"], spec["method"]["r"] = method, r
    return {
        "id": job_id,
        "name": f"run{job_id}",
        "status": status,
        "progress": 0.5,
        "eta_seconds": 75,
        "best_metric_name": "accuracy",
        "best_metric_value": 0.8125,
        "created_at": "2026-11-28T02:40:06+00:00",
        "spec": spec,
        **extra,
    }


def _points():
    pts = []
    for step in (5, 10, 15, 20):
        pts.append({"step": step, "epoch": step / 20, "split": "train", "name": "loss", "value": 1.0 / step})
        pts.append(
            {"step": step, "epoch": step / 20, "split": "train", "name": "learning_rate", "value": 1e-3}
        )
    for step in (10, 20):
        pts.append({"step": step, "epoch": step / 20, "split": "eval", "name": "loss", "value": 0.5})
        pts.append(
            {"step": step, "epoch": step / 20, "split": "eval", "name": "accuracy", "value": step / 40}
        )
    pts.append({"step": 20, "epoch": 1.0, "split": "final", "name": "accuracy", "value": 0.5})
    return pts


def test_jobs_table_shows_status_progress_eta_and_best_metric():
    frame = jobs_tab.jobs_frame([_job(1, "succeeded"), _job(2)])
    assert list(frame.columns) == jobs_tab.TABLE_COLUMNS
    assert list(frame["id"]) == [2, 1]  # newest first
    running = frame.iloc[0]
    assert "running" in running["status"] and running["progress"] == "50%" and running["ETA"] == "1m 15s"
    assert running["best metric"] == "accuracy 0.8125"
    assert running["created"] == "2026-11-28 02:40"
    assert frame.iloc[1]["ETA"] == ""  # no ETA once finished


@pytest.mark.parametrize(
    "seconds, text", [(None, ""), (5.2, "5s"), (75, "1m 15s"), (7300, "2h 01m"), (-3, "0s")]
)
def test_fmt_eta(seconds, text):
    assert jobs_tab.fmt_eta(seconds) == text


def test_job_choices_filter_by_status_and_method():
    all_jobs = [_job(1, "succeeded"), _job(2, "succeeded", method="lora"), _job(3, "failed")]
    assert [v for _, v in shared.job_choices(all_jobs)] == ["3", "2", "1"]
    assert [v for _, v in shared.job_choices(all_jobs, statuses=("succeeded",))] == ["2", "1"]
    assert [v for _, v in shared.job_choices(all_jobs, statuses=("succeeded",), method="lora")] == ["2"]


def test_curves_put_train_and_eval_loss_on_one_chart():
    c = jobs_tab.curves(_points(), "step")
    assert set(c["loss"]["series"]) == {"train loss", "eval loss"}
    assert len(c["loss"]) == 6  # the final evaluation is not a point on the curve
    assert set(c["metrics"]["series"]) == {"accuracy"}
    assert list(c["lr"]["x"]) == [5.0, 10.0, 15.0, 20.0]
    by_epoch = jobs_tab.curves(_points(), "epoch")
    assert by_epoch["loss"]["x"].max() == pytest.approx(1.0)


def test_empty_curves_are_empty_frames():
    c = jobs_tab.curves([], "step")
    assert all(frame.empty for frame in c.values())


def test_job_summary_shows_the_failure_reason():
    text = jobs_tab.job_summary({**_job(4, "failed"), "error": "label column 'x' not found"})
    assert "failed" in text and "label column 'x' not found" in text


def test_spec_diff_lists_only_fields_that_differ():
    a = example_spec("classification").to_dict()
    b = example_spec("classification").to_dict()
    b["method"]["name"], b["method"]["r"], b["name"] = "lora", 16, "other"
    diff = compare.spec_diff({"#1": a, "#2": b})
    assert list(diff.columns) == ["field", "#1", "#2"]
    assert set(diff["field"]) == {"method.name", "method.r"}  # the name is ignored
    row = diff[diff["field"] == "method.r"].iloc[0]
    assert (row["#1"], row["#2"]) == ("8", "16")
    assert compare.spec_diff({"#1": a, "#2": a}).empty


def test_flatten():
    assert compare.flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": None,
    }


def test_overlay_and_final_metrics():
    points = {"#1 a": _points(), "#2 b": _points()[:4]}
    frame = compare.overlay(points, "train loss", "step")
    assert set(frame["job"]) == {"#1 a", "#2 b"} and len(frame) == 4 + 2
    assert set(compare.overlay(points, "eval accuracy")["job"]) == {"#1 a"}
    assert "eval accuracy" in compare.metric_choices(points)
    finals = compare.final_metrics({"#1 a": _job(1, "succeeded"), "#2 b": _job(2)}, points)
    assert finals.iloc[0]["eval accuracy"] == 0.5  # the final evaluation wins over the last eval point
    assert pd.isna(finals.iloc[1]["eval accuracy"])


def test_insight_frames():
    rows = [
        {
            "module": f"encoder.layer.{i}.attention.self.{kind}",
            "layer": i,
            "shape": (32, 32),
            "fro_norm": 0.1 * (i + 1),
            "singular_values": [2.0, 1.0, 0.5, 0.0],
            "effective_rank": 2.5,
        }
        for i in range(2)
        for kind in ("query", "value")
    ]
    by_job = {"#1 neat": rows, "#2 lora": rows[:2]}
    norms = insight.norms_frame(by_job)
    assert set(norms["series"]) == {
        "#1 neat · query",
        "#1 neat · value",
        "#2 lora · query",
        "#2 lora · value",
    }
    spectrum = insight.spectrum_frame(by_job)
    first = spectrum[spectrum["job"] == "#1 neat"]
    assert list(first["singular_value"]) == [1.0, 0.5, 0.25]  # normalised by sigma_1
    table = insight.ranks_table(by_job)
    assert len(table) == 6 and table.iloc[0]["shape"] == "32×32"
    assert "effective rank 2.5" in insight.headline(by_job, {"#1 neat": 8})
    assert insight.module_kind("encoder.layer.3.attention.output.dense") == "attention.output.dense"


def test_job_actions_say_what_happened(neat_home):
    from jobs import api
    from neat.engine.spec import example_spec

    job_id = api.submit(example_spec("classification"))  # real store and queue, no worker
    assert jobs_tab.run_action("cancel", str(job_id)) == f"Cancel requested for job #{job_id}."
    assert api.get_job(job_id)["status"] == "cancelled"
    assert jobs_tab.run_action("resume", str(job_id)).startswith("✗ ")  # no checkpoint to resume from
    new_id = max(j["id"] for j in api.list_jobs()) + 1
    assert jobs_tab.run_action("retry", str(job_id)) == f"Retrying job #{job_id} as new job #{new_id}."
    assert jobs_tab.run_action("delete", str(job_id)) == f"Deleted job #{job_id}."
    assert [j["id"] for j in api.list_jobs()] == [new_id]
    assert jobs_tab.run_action("cancel", None) == "Select a job first."


def test_pickers_offer_the_newest_jobs_and_keep_an_older_choice(neat_home, monkeypatch):
    from jobs import store

    spec = example_spec("classification").to_dict()
    done = []
    for i in range(5):
        job = store.create_job(spec, name=f"run{i}")
        store.set_status(job["id"], "running")
        store.set_status(job["id"], "succeeded")
        done.append(job["id"])
    failed = store.create_job(spec, name="broke")["id"]
    store.set_status(failed, "running")
    store.set_status(failed, "failed", error="boom")
    evaluation = store.create_job(spec, name="scored", kind="evaluate")["id"]
    monkeypatch.setattr(shared, "PICKER_LIMIT", 3)

    newest = [j["id"] for j in shared.picker_jobs(status="succeeded")]
    assert newest == done[-3:][::-1]  # newest first, only this status, no evaluation
    anything = [j["id"] for j in shared.picker_jobs()]
    assert anything == [failed, done[-1], done[-2]] and evaluation not in anything
    kept = [j["id"] for j in shared.picker_jobs(status="succeeded", keep=[str(done[0]), "", "999"])]
    assert kept == [*done[-3:][::-1], done[0]]  # the older choice stays; a missing id is dropped
    assert [v for _, v in shared.job_choices(shared.picker_jobs(status="succeeded"))] == [
        str(i) for i in done[-3:][::-1]
    ]


def test_best_metric_of_a_finished_run_gets_its_n_and_only_an_accuracy_an_interval(tmp_path):
    import json

    from app.tabs.eval_results import best_metric_text

    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"rows": {"validation": 5}}), encoding="utf-8")
    chat = _job(
        1, status="succeeded", output_dir=str(run), best_metric_name="eval_loss", best_metric_value=10.2
    )
    assert best_metric_text(chat) == "loss 10.2 (n=5)"  # a loss: no binomial interval
    classifier = {**chat, "id": 2, "best_metric_name": "eval_accuracy", "best_metric_value": 0.6}
    assert best_metric_text(classifier) == "accuracy 0.6 (n=5, 95% 0.23-0.88)"
    frame = jobs_tab.jobs_frame([chat, classifier])  # the Jobs table draws both rows
    shown = dict(zip(frame["id"], frame["best metric"], strict=True))
    assert shown == {1: "loss 10.2 (n=5)", 2: "accuracy 0.6 (n=5, 95% 0.23-0.88)"}
