"""Evaluation jobs through a real `python -m jobs.worker`: a real tiny run is trained, then
scored on its own test split and on files; bad requests are refused before queueing, and what
can only be known while scoring ends the job `failed` with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import api, config
from jobs.errors import JobNotFound, JobStateError
from jobs.models import END_STATES
from neat.engine.errors import SpecError
from tests.jobs.conftest import wait_until
from tests.jobs.test_cli import run_cli

pytestmark = [pytest.mark.slow]


def _ended(job_id: int, workers, timeout: float = 240) -> dict:
    wait_until(lambda: api.get_job(job_id)["status"] in END_STATES, timeout, f"job {job_id} to end", workers)
    return api.get_job(job_id)


@pytest.mark.timeout(600)
def test_evaluation_jobs_score_a_real_run_and_fail_with_the_reason(
    workers, make_spec, tmp_path: Path, capsys
):
    workers.start()
    held_out = make_spec("held-out", max_steps=4)
    held_out.dataset.test_fraction = 0.25
    run_id = api.submit(held_out, owner="ann")
    plain_id = api.submit(make_spec("no-test-split", max_steps=1), owner="ann")
    run = _ended(run_id, workers)
    assert run["status"] == "succeeded", run["error"]

    # refused before anything is queued, each with its reason
    with pytest.raises(JobNotFound):
        api.submit_evaluation(999)
    with pytest.raises(JobNotFound):  # another account's run reads as one that does not exist
        api.submit_evaluation(run_id, owner="bob")
    with pytest.raises(SpecError) as info:
        api.submit_evaluation(run_id, data=str(tmp_path / "missing.csv"), columns={"txt": "x"}, batch_size=0)
    assert {e.field for e in info.value.errors} == {"data", "columns.txt", "batch_size"}
    assert "no such file" in str(info.value)
    assert _ended(plain_id, workers)["status"] == "succeeded"
    with pytest.raises(SpecError, match="kept no held-out test split"):
        api.submit_evaluation(plain_id)
    assert [j["kind"] for j in api.list_jobs()] == ["train", "train"]
    from jobs.evaluation import check_request  # a hub id is not a missing file: the engine reads it

    assert check_request(run_id, data="org/reviews")[0]["data"] == "org/reviews"

    # the run's own test split, through the CLI
    code, out, err = run_cli(capsys, "evaluate", str(run_id))
    assert code == 0, err
    on_test = int(out.split("queued evaluation job ")[1].split()[0])
    # a file without labels (batch prediction), an admin scoring ann's run
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("review\ngreat lovely film\nawful dull film\npoor film\n", encoding="utf-8")
    predicted = api.submit_evaluation(
        run_id, data=str(unlabelled), columns={"text": "review"}, owner="root", any_owner=True
    )
    # readable at queue time, but its text column is not there: only scoring can tell
    wrong_column = api.submit_evaluation(run_id, data=str(unlabelled), columns={"text": "body"}, owner="ann")

    job = _ended(on_test, workers)
    assert (job["status"], job["kind"], job["error"]) == ("succeeded", "evaluate", None)
    folder = config.evaluations_dir() / str(on_test)
    assert Path(job["output_dir"]) == folder
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["labelled"] is True and metrics["n"] == 16  # a quarter of the 64 rows
    assert job["best_metric_name"] == "accuracy" and job["best_metric_value"] == metrics["accuracy"]
    assert job["progress"] == 1.0
    assert len((folder / "predictions.csv").read_text().splitlines()) == 1 + 16

    job = _ended(predicted, workers)
    assert job["status"] == "succeeded", job["error"]
    assert job["owner"] == "root" and job["best_metric_value"] is None
    metrics = json.loads((config.evaluations_dir() / str(predicted) / "metrics.json").read_text())
    assert (metrics["labelled"], metrics["n"]) == (False, 3)

    job = _ended(wrong_column, workers)
    assert job["status"] == "failed" and "body" in job["error"]
    assert any("failed" in e["text"] and "body" in e["text"] for e in api.get_logs(wrong_column))

    # deleting the run keeps its evaluations and their results; a retry is refused with the reason
    api.delete(run_id)
    kept = api.get_job(on_test)
    assert kept["status"] == "succeeded" and (Path(kept["output_dir"]) / "metrics.json").is_file()
    assert any(f"run job {run_id} was deleted" in e["text"] for e in api.get_logs(on_test))
    with pytest.raises(JobNotFound, match=f"job {run_id} does not exist"):
        api.retry(on_test)
    with pytest.raises(JobStateError, match="is an evaluation"):
        api.submit_evaluation(on_test)
    api.delete(on_test)
    assert not (config.evaluations_dir() / str(on_test)).exists()
