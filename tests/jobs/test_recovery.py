"""The worker's recovery pass, run in-process: stale jobs become interrupted, and with
auto-resume those with a checkpoint are queued again exactly once."""

from __future__ import annotations

import time
from pathlib import Path

from jobs import api, queue, store
from jobs.worker import recover


def _stale_running(make_spec, name: str, checkpoint: int | None, incomplete: int | None = None) -> int:
    job_id = api.submit(make_spec(name))
    job = store.claim_job(job_id, "gone-host", 4242)
    folder = Path(job["output_dir"]) / "checkpoints"
    if checkpoint is not None:
        (folder / f"checkpoint-{checkpoint}").mkdir(parents=True)
        (folder / f"checkpoint-{checkpoint}" / "trainer_state.json").write_text("{}")
    if incomplete is not None:  # being written when the worker died
        (folder / f"checkpoint-{incomplete}").mkdir(parents=True)
    return job_id


def test_recover_marks_stale_jobs_and_auto_resumes_once(jobs_home: Path, make_spec):
    with_checkpoint = _stale_running(make_spec, "with-checkpoint", 10, incomplete=20)
    without = _stale_running(make_spec, "without-checkpoint", None)
    queue.get_huey().flush()
    time.sleep(0.2)

    assert recover(60, auto_resume=True) == {"interrupted": [], "auto_resumed": []}  # not stale yet
    result = recover(0.1, auto_resume=True)
    assert result == {"interrupted": [with_checkpoint, without], "auto_resumed": [with_checkpoint]}
    job = api.get_job(with_checkpoint)
    assert job["status"] == "queued" and job["auto_resumed"] and job["checkpoint_step"] == 10
    assert api.get_job(without)["status"] == "interrupted"  # nothing to resume from
    assert queue.pending_job_ids() == [with_checkpoint]
    assert "auto-resumed from the checkpoint at step 10" in api.get_logs(with_checkpoint)[-1]["text"]

    # it dies again: interrupted, but not auto-resumed a second time
    store.claim_job(with_checkpoint, "gone-host", 4243)
    time.sleep(0.2)
    assert recover(0.1, auto_resume=True) == {"interrupted": [with_checkpoint], "auto_resumed": []}
    assert api.get_job(with_checkpoint)["status"] == "interrupted"
    # a person can still resume it
    assert api.resume(with_checkpoint)["status"] == "queued"


def test_recover_without_auto_resume_only_marks(jobs_home: Path, make_spec):
    job_id = _stale_running(make_spec, "x", 5)
    time.sleep(0.2)
    assert recover(0.1, auto_resume=False) == {"interrupted": [job_id], "auto_resumed": []}
    assert api.get_job(job_id)["status"] == "interrupted"
