"""The run folder: complete checkpoints, half-written ones, metric points after a kill."""

from __future__ import annotations

import json

import pytest

from neat.engine.errors import ModelLoadError
from neat.engine.rundir import RunDir
from neat.engine.spec import example_spec


def _checkpoint(run: RunDir, step: int, complete: bool = True) -> None:
    folder = run.checkpoints / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if complete:
        (folder / "trainer_state.json").write_text("{}")


def test_the_latest_checkpoint_is_the_newest_complete_one(tmp_path):
    run = RunDir(tmp_path / "run")
    assert run.latest_checkpoint() is None and run.latest_checkpoint_step() is None
    for step, complete in ((5, True), (10, True), (15, False)):
        _checkpoint(run, step, complete)
    (run.checkpoints / "checkpoint-x").mkdir()  # not a Trainer checkpoint
    assert run.checkpoint_steps() == [5, 10]
    assert run.latest_checkpoint() == run.checkpoints / "checkpoint-10"
    assert run.remove_incomplete_checkpoints() == [15]
    assert not (run.checkpoints / "checkpoint-15").exists()
    assert run.latest_checkpoint_step() == 10


def test_metric_points_skip_a_line_cut_short_by_a_kill(tmp_path):
    run = RunDir(tmp_path)
    run.append_record({"step": 1, "epoch": 0.1, "split": "train", "metrics": {"loss": 2.0, "lr": 0.1}})
    run.append_record({"step": 4, "epoch": 0.4, "split": "eval", "metrics": {"accuracy": 0.5}})
    with run.metrics_file.open("a") as handle:
        handle.write('{"step": 6, "split": "tr')  # the writer died mid-line
    points = run.metric_points(up_to_step=4)
    assert [(p["step"], p["split"], p["name"], p["value"]) for p in points] == [
        (1, "train", "loss", 2.0),
        (1, "train", "lr", 0.1),
        (4, "eval", "accuracy", 0.5),
    ]
    assert run.metric_points(up_to_step=1)[-1]["name"] == "lr"
    run.keep_records_up_to(1)
    assert [json.loads(line)["step"] for line in run.metrics_file.read_text().splitlines()] == [1]
    run.keep_records_up_to(None)
    assert run.metrics_file.read_text() == ""


def test_a_folder_without_a_spec_is_not_a_run(tmp_path):
    with pytest.raises(ModelLoadError, match="spec.yaml is missing"):
        RunDir(tmp_path).read_spec()
    spec = example_spec("classification")
    spec.save(RunDir(tmp_path).spec_file)
    assert RunDir(tmp_path).read_spec() == spec
    with pytest.raises(ModelLoadError, match="labels.json is missing"):
        RunDir(tmp_path).read_labels("classification")
    assert RunDir(tmp_path).read_labels("causal-lm") == (None, False)
