"""The Jobs table's progress, ETA and best metric, read back from the store during and after a
real tiny training run (the engine's events through JobListener into SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

from app.tabs.jobs_tab import fmt_eta, jobs_frame
from jobs import store
from jobs.listener import JobListener
from neat.engine.train import run
from tests.tiny_runs import classification_spec

HOST, PID = "test-host", 4242
STEPS = 32


class RowReader:
    """A listener placed after JobListener: at each training step it reads the job's row."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.rows: dict[int, tuple[float, dict]] = {}  # step -> (time seen, row)

    def on_event(self, event: dict) -> None:
        if event["kind"] == "log" and event["split"] == "train":
            self.rows[event["step"]] = (time.monotonic(), store.get_job(self.job_id))

    def should_stop(self) -> bool:
        return False


def test_progress_eta_and_best_metric_of_a_real_run(jobs_home: Path, tiny_model: Path, tmp_path: Path):
    from tests.tiny_runs import sentiment_csv

    spec = classification_spec(
        tiny_model,
        sentiment_csv(tmp_path / "reviews.csv"),
        max_steps=STEPS,
        eval_steps=4,
        learning_rate=0.2,
        head_learning_rate=0.2,
    )
    job = store.create_job(spec.to_dict())
    job = store.claim_job(job["id"], HOST, PID)
    reader = RowReader(job["id"])
    listener = JobListener(job, HOST, PID, flush_every=1, flush_interval=0.0)
    summary = run(spec, job["output_dir"], [listener, reader])
    listener.flush()

    # while running: the row follows the steps, and the ETA is the time the remaining steps take
    # (with the evaluations due and the final one)
    assert sorted(reader.rows) == list(range(1, STEPS + 1))
    for step, (_, row) in reader.rows.items():
        assert row["status"] == "running"
        assert row["progress"] == step / STEPS
        shown = jobs_frame([row]).iloc[0]
        assert shown["progress"] == f"{100 * step / STEPS:.0f}%"
        assert shown["ETA"].endswith(fmt_eta(row["eta_seconds"])) and fmt_eta(row["eta_seconds"]) != ""
    # at the last step the final evaluation and save are still to come: time left, and the phase
    last = reader.rows[STEPS][1]
    assert last["eta_seconds"] > 0 and jobs_frame([last]).iloc[0]["ETA"].startswith("final evaluation…")
    assert all(row["eta_seconds"] > 0 for _, row in reader.rows.values())
    (t1, _), (t_half, half) = reader.rows[1], reader.rows[STEPS // 2]
    per_step = (t_half - t1) / (STEPS // 2 - 1)
    expected = per_step * (STEPS - STEPS // 2)
    assert expected / 3 < half["eta_seconds"] < expected * 3, (half["eta_seconds"], expected)

    # after the run: the table's best metric is the best validation accuracy, the kept model's
    store.set_status(job["id"], "succeeded", owner=(HOST, PID), progress=1.0, eta_seconds=0.0)
    row = store.get_job(job["id"])
    accuracy = {p["step"]: p["value"] for p in store.get_metrics(job["id"], split="eval", name="accuracy")}
    assert sorted(accuracy) == list(range(4, STEPS + 1, 4))
    assert min(accuracy.values()) < max(accuracy.values())  # the run improved: best != first
    assert row["best_metric_name"] == "accuracy"
    assert row["best_metric_value"] == max(accuracy.values()) == summary["best_metric"]
    shown = jobs_frame([row]).iloc[0]
    # with the validation split's n and, below 500 examples, its 95% interval
    n = summary["rows"]["validation"]
    assert shown["best metric"].startswith(f"accuracy {max(accuracy.values()):.4g} (n={n}, 95% ")
    assert shown["ETA"] == "" and shown["progress"] == "100%"
