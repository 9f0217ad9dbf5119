"""The ETA counts the final evaluation and save, not only the training steps."""

from __future__ import annotations

import pytest

from neat.engine.eta import FORWARD_SHARE, EtaClock
from neat.engine.train import run
from tests.tiny_runs import Recorder, classification_spec, sentiment_csv, tiny_bert_folder


def test_remaining_time_adds_the_evaluations_due_and_the_final_one():
    clock = EtaClock(eval_every=10, eval_rows=64, rows_per_step=8)
    clock.start(0, now=100.0)
    assert clock.remaining(0, 30, now=100.0) is None  # no step measured yet
    clock.evaluated(4.0)
    clock.saved(1.0)
    # 10 steps in 25 s, of which 5 s were evaluating and saving: 2 s per step
    assert clock.step_seconds(10, now=125.0) == pytest.approx(2.0)
    # 20 steps left, evaluations at steps 20 and 30 (with their saves), then the final one
    assert clock.remaining(10, 30, now=125.0) == pytest.approx(20 * 2.0 + 2 * 5.0 + 5.0)
    # all steps done: what is left is the final evaluation and save, never 0
    assert clock.remaining(30, 30, now=175.0) == pytest.approx(5.0)


def test_before_any_evaluation_the_final_one_is_priced_from_the_eval_set():
    clock = EtaClock(eval_every=None, eval_rows=64, rows_per_step=8)
    clock.start(0, now=0.0)
    per_step = clock.step_seconds(5, now=5.0)
    assert per_step == pytest.approx(1.0)
    assert clock.final_seconds(per_step) == pytest.approx(64 / 8 * FORWARD_SHARE)
    assert clock.remaining(5, 5, now=5.0) == pytest.approx(64 / 8 * FORWARD_SHARE)


def test_a_real_run_reports_the_final_evaluation_phase_with_time_left(tmp_path):
    model = tiny_bert_folder(tmp_path / "bert")
    csv = sentiment_csv(tmp_path / "data.csv", rows=64)
    # no evaluation during training: the final one is estimated from the evaluation set's size
    spec = classification_spec(model, csv, max_steps=4, eval_steps=100)
    recorder = Recorder()
    run(spec, tmp_path / "out", [recorder])
    kinds = [e["kind"] for e in recorder.events]
    phase = next(e for e in recorder.events if e["kind"] == "progress")
    assert phase["phase"] == "final evaluation" and phase["progress"] == 1.0
    assert phase["eta_seconds"] is not None and phase["eta_seconds"] > 0
    last_step = [e for e in recorder.events if e["kind"] == "log" and e["split"] == "train"][-1]
    assert last_step["progress"] == 1.0 and last_step["eta_seconds"] > 0  # not "100% · ETA 0s"
    # the phase comes after the last training step and before the final evaluation's result
    final = next(i for i, e in enumerate(recorder.events) if e.get("split") == "final")
    assert kinds.index("progress") < final
