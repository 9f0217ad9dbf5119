"""Compare tab: a real "compare with LoRA" group (NEAT and LoRA x 2 seeds, tiny runs with a test
split) read as a whole, and the overlay chart's legend and step ticks (issue: legends cut where
names differ, a tick per step)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from app import backend
from app.tabs import charts, compare, compare_groups
from tests.tiny_runs import classification_spec, sentiment_csv

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def group(tiny_model: Path, tmp_path_factory) -> dict:
    """NEAT and LoRA (at LoRA's defaults) x seeds 42, 43: four real runs in one sweep."""
    root = tmp_path_factory.mktemp("compare_groups")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEAT_HOME", str(root / "home"))
        mp.setenv("NEAT_DATA_DIRS", str(tmp_path_factory.getbasetemp()))  # the model and data folders
        mp.delenv("NEAT_DB_URL", raising=False)
        mp.delenv("NEAT_QUEUE_URL", raising=False)
        from jobs import api, runner, store

        spec = classification_spec(tiny_model, sentiment_csv(root / "reviews.csv", rows=64), max_steps=4)
        spec.dataset.test_fraction = 0.25
        spec.name = "ab"
        specs = backend.sweep_plan(spec, {"method.name": "neat, lora", "training.seed": "42, 43"})
        ids = backend.submit_many(specs, "ab")
        for job_id in ids:  # what the worker does, here in-process
            job = store.claim_job(job_id, "tests", os.getpid())
            runner.execute(job, "tests", os.getpid())
            assert api.get_job(job_id)["status"] == "succeeded", api.get_job(job_id)["error"]
        yield {"ids": ids, "sweep": api.get_job(ids[0])["sweep_id"]}


def test_a_group_shows_means_the_paired_difference_and_the_sentence(group):
    choices = compare_groups.group_choices(backend.list_jobs())
    assert [value for _, value in choices] == [str(group["sweep"])]
    assert "4 runs (lora, neat) · 4 done" in choices[0][0]

    comparison = backend.group_comparison(group["sweep"])
    methods = compare_groups.methods_frame(comparison)
    assert set(methods["method"]) == {"neat", "lora"} and list(methods["runs"]) == [2, 2]
    for _, row in methods.iterrows():
        mean = comparison["methods"][row["method"]]["mean"]
        assert row["metric (mean ± sd)"].startswith(f"{mean:.4g} ± ")
        assert int(row["trainable params"].replace(",", "")) > 0 and row["train time"].endswith("s")
    text = compare_groups.comparison_markdown(comparison)
    assert comparison["sentence"] in text and "test split, n = 16 examples per run" in text
    assert "Paired difference over 2 seed(s)" in text and "95% interval" in text


def test_a_sweep_table_is_best_first_with_the_metric_by_learning_rate(group):
    table = backend.sweep_table(group["sweep"])
    shown, rows, metric = compare_groups.sweep_view(table)
    assert metric == "accuracy" and "validation accuracy" in shown.columns
    assert shown.iloc[0]["best"] and not shown.iloc[1:]["best"].astype(bool).any()
    values = list(shown["validation accuracy"])
    assert values == sorted(values, reverse=True)
    assert len(rows) == 4 and {r["method"] for r in rows} == {"neat", "lora"}
    spec = charts.spec_of(charts.metric_by_learning_rate(rows, "validation accuracy"))
    assert spec["layer"][0]["encoding"]["x"]["scale"] == {"type": "log"}
    assert len(spec["data"]["values"]) == 4


def test_overlay_legends_say_id_and_method_and_steps_get_whole_ticks():
    jobs = [
        {"id": 12, "name": "my-very-long-experiment-name-neat-s42", "spec": {"method": {"name": "neat"}}},
        {"id": 13, "name": "my-very-long-experiment-name-lora-s42", "spec": {"method": {"name": "lora"}}},
    ]
    assert [compare.legend_label(j) for j in jobs] == ["#12 neat", "#13 lora"]
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 1.0], "value": [0.9, 0.8, 0.7, 0.95], "job": ["#12 neat"] * 3 + ["#13 lora"]}
    )
    spec = charts.spec_of(charts.lines(frame, "step", "train loss"))
    axis = spec["encoding"]["x"]["axis"]
    assert axis == {"tickCount": 10, "tickMinStep": 1, "format": "d"}  # whole steps, about ten
    assert spec["encoding"]["color"]["legend"]["labelLimit"] == 0  # entries never cut short
    assert any(layer["mark"]["type"] == "point" for layer in spec["layer"])  # a lone point shows
    assert (
        charts.spec_of(charts.lines(frame, "epoch", "loss", integer_x=False))["encoding"]["x"]["axis"] == {}
    )
    assert charts.lines(frame.iloc[0:0]) is None


def test_final_metrics_carry_the_test_metric_with_n(group):
    jobs = {compare.legend_label(j): j for j in (backend.get_job(i) for i in group["ids"])}
    points = {label: backend.get_metrics(job["id"]) for label, job in jobs.items()}
    finals = compare.final_metrics(jobs, points)
    assert len(finals) == 4 and set(finals["job"]) == set(jobs)
    assert all(text.startswith("accuracy ") and text.endswith("(n=16)") for text in finals["test"])
