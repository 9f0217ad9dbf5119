"""The job store on a real SQLite file: transitions, claims, metrics, events, stale jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jobs import store
from jobs.errors import JobNotFound, JobStateError

SPEC = {"name": "My Run #1", "task": "classification"}


def _running(host: str = "host-a", pid: int = 100) -> dict:
    job = store.create_job(SPEC)
    claimed = store.claim_job(job["id"], host, pid)
    assert claimed is not None
    return claimed


def test_create_and_read_back_plain_json(jobs_home: Path):
    job = store.create_job(SPEC, priority=3)
    assert job["status"] == "queued" and job["priority"] == 3 and job["spec"] == SPEC
    assert job["output_dir"] == str(jobs_home / "runs" / f"{job['id']}-my-run-1")
    assert job["checkpoint_step"] is None and job["attempts"] == 0
    fetched = store.get_job(job["id"])
    json.dumps(fetched, allow_nan=False)  # the UI can serialise it as it is
    assert fetched["created_at"].endswith("+00:00")
    assert [j["id"] for j in store.list_jobs()] == [job["id"]]
    assert store.list_jobs(status="running") == []
    with pytest.raises(JobNotFound, match="job 999 does not exist"):
        store.get_job(999)


def test_lifecycle_transitions(jobs_home: Path):
    job = _running()
    assert job["status"] == "running" and job["attempts"] == 1
    assert (job["worker_host"], job["worker_pid"]) == ("host-a", 100)
    with pytest.raises(JobStateError, match="cannot become queued"):
        store.set_status(job["id"], "queued")
    done = store.set_status(job["id"], "succeeded", owner=("host-a", 100), progress=1.0)
    assert done["status"] == "succeeded" and done["finished_at"] and done["progress"] == 1.0
    for status in ("queued", "running", "failed", "interrupted"):
        with pytest.raises(JobStateError, match="job .* is succeeded"):
            store.set_status(job["id"], status)

    # failed/cancelled/interrupted may be queued again (resume or retry), keeping the id
    for end in ("failed", "cancelled", "interrupted"):
        job = _running()
        store.set_status(job["id"], end, error="why" if end == "failed" else None)
        again = store.requeue(job["id"])
        assert again["status"] == "queued" and again["error"] is None and again["finished_at"] is None
        rerun = store.claim_job(job["id"], "host-b", 7)
        assert rerun["attempts"] == 2 and rerun["started_at"] == job["started_at"]
    with pytest.raises(ValueError, match="unknown job status"):
        store.set_status(job["id"], "exploded")


def test_claim_is_atomic_and_owner_checked(jobs_home: Path):
    job = store.create_job(SPEC)
    assert store.claim_job(job["id"], "host-a", 1) is not None
    assert store.claim_job(job["id"], "host-b", 2) is None  # a second worker cannot take it
    # only the owner may record the end of the run
    with pytest.raises(JobStateError):
        store.set_status(job["id"], "succeeded", owner=("host-b", 2))
    assert store.heartbeat(job["id"], "host-a", 1) and not store.heartbeat(job["id"], "host-b", 2)
    assert store.control_state(job["id"], "host-a", 1) == "run"
    assert store.control_state(job["id"], "host-b", 2) == "lost"
    assert store.claim_job(12345, "host-a", 1) is None


def test_a_second_worker_on_the_same_host_is_not_the_owner(jobs_home: Path):
    # two worker processes on one machine differ only by pid
    job = _running("host-a", 1)
    assert not store.heartbeat(job["id"], "host-a", 2)
    store.update_running(job["id"], owner=("host-a", 2), progress=0.7)
    assert store.get_job(job["id"])["progress"] == 0.0
    point = [{"step": 1, "split": "train", "name": "loss", "value": 1.0}]
    assert store.add_metric_points(job["id"], point, owner=("host-a", 2)) == 0
    with pytest.raises(JobStateError):
        store.set_status(job["id"], "succeeded", owner=("host-a", 2))


def test_a_queued_job_cannot_end_without_running(jobs_home: Path):
    job = store.create_job(SPEC)
    for end in ("succeeded", "failed", "interrupted"):
        with pytest.raises(JobStateError, match="is queued; it cannot become"):
            store.set_status(job["id"], end)
    assert store.get_job(job["id"])["status"] == "queued"


def test_a_claim_starts_without_an_old_cancel_flag(jobs_home: Path):
    # a flag left on a queued row (written by an older version, or by hand) must not cancel
    # the new attempt the moment it starts
    from sqlalchemy import update

    from jobs.db import session
    from jobs.models import Job

    job = store.create_job(SPEC)
    with session(write=True) as s:
        s.execute(update(Job).where(Job.id == job["id"]).values(cancel_requested=True, error="old"))
    claimed = store.claim_job(job["id"], "host-a", 1)
    assert claimed["cancel_requested"] is False and claimed["error"] is None
    assert store.control_state(job["id"], "host-a", 1) == "run"


def test_metric_points_batched_and_unique(jobs_home: Path):
    job = _running()
    points = [
        {"step": s, "epoch": s / 10, "split": "train", "name": "loss", "value": 1.0 / s}
        for s in range(1, 101)
    ]
    points += [{"step": 50, "split": "eval", "name": "accuracy", "value": 0.5}]
    assert store.add_metric_points(job["id"], points) == 101
    # the same points again (a resumed run logging steps again) are ignored, not duplicated
    store.add_metric_points(
        job["id"], points[40:60] + [{"step": 101, "split": "train", "name": "loss", "value": 0}]
    )
    metrics = store.get_metrics(job["id"])
    assert len(metrics) == 102
    keys = [(p["step"], p["split"], p["name"]) for p in metrics]
    assert len(set(keys)) == len(keys)
    loss = store.get_metrics(job["id"], split="train", name="loss")
    assert [p["step"] for p in loss] == list(range(1, 102))
    assert loss[0]["value"] == 1.0 and loss[0]["epoch"] == 0.1
    # a resume from the checkpoint at step 60 forgets what came after it
    assert store.delete_metric_points_after(job["id"], 60) == 41
    assert max(p["step"] for p in store.get_metrics(job["id"])) == 60
    # non-finite values are stored but read back as None (JSON-safe)
    store.add_metric_points(
        job["id"], [{"step": 61, "split": "train", "name": "loss", "value": float("nan")}]
    )
    assert store.get_metrics(job["id"], name="loss")[-1]["value"] is None
    json.dumps(store.get_metrics(job["id"]), allow_nan=False)


def test_a_worker_that_lost_its_job_cannot_write_into_it(jobs_home: Path):
    job = _running("host-a", 1)
    point = [{"step": 1, "split": "train", "name": "loss", "value": 1.0}]
    assert store.add_metric_points(job["id"], point, owner=("host-a", 1)) == 1
    store.mark_stale_running_as_interrupted(0)  # declared dead...
    store.requeue(job["id"])
    store.claim_job(job["id"], "host-b", 2)  # ...and taken over by another worker
    late = [{"step": 2, "split": "train", "name": "loss", "value": 9.0}]
    assert store.add_metric_points(job["id"], late, owner=("host-a", 1)) == 0
    store.update_running(job["id"], owner=("host-a", 1), progress=0.9)
    assert [p["step"] for p in store.get_metrics(job["id"])] == [1]
    assert store.get_job(job["id"])["progress"] == 0.0
    store.update_running(job["id"], owner=("host-b", 2), progress=0.5)
    assert store.get_job(job["id"])["progress"] == 0.5
    with pytest.raises(ValueError, match="cannot set"):
        store.update_running(job["id"], status="succeeded")


def test_events_tail_and_follow(jobs_home: Path):
    job = store.create_job(SPEC)
    for i in range(10):
        store.add_event(job["id"], f"line {i}", "warning" if i == 9 else "info")
    tail = store.get_events(job["id"], tail=3)
    assert [e["text"] for e in tail] == ["line 7", "line 8", "line 9"] and tail[-1]["level"] == "warning"
    after = store.get_events(job["id"], tail=None, after_id=tail[0]["id"])
    assert [e["text"] for e in after] == ["line 8", "line 9"]


def test_cancel_queued_and_running(jobs_home: Path):
    queued = store.create_job(SPEC)
    assert store.request_cancel(queued["id"])["status"] == "cancelled"
    assert store.claim_job(queued["id"], "host-a", 1) is None  # the queue entry will be skipped
    running = _running()
    flagged = store.request_cancel(running["id"])
    assert flagged["status"] == "running" and flagged["cancel_requested"]
    assert store.control_state(running["id"], "host-a", 100) == "cancel"
    store.set_status(running["id"], "cancelled", owner=("host-a", 100))
    with pytest.raises(JobStateError, match="only queued or running"):
        store.request_cancel(running["id"])
    with pytest.raises(JobNotFound):
        store.request_cancel(999)


def test_stale_running_jobs_become_interrupted(jobs_home: Path):
    alive, dead, cancelling = _running("a", 1), _running("b", 2), _running("c", 3)
    store.request_cancel(cancelling["id"])
    time.sleep(0.3)
    store.heartbeat(alive["id"], "a", 1)
    assert store.mark_stale_running_as_interrupted(0.2) == [dead["id"], cancelling["id"]]
    assert store.get_job(alive["id"])["status"] == "running"
    lost = store.get_job(dead["id"])
    assert lost["status"] == "interrupted" and "stopped responding" in lost["error"]
    assert store.get_job(cancelling["id"])["status"] == "cancelled"  # the user wanted it stopped anyway
    assert "marked interrupted" in store.get_events(dead["id"])[-1]["text"]
    assert store.mark_stale_running_as_interrupted(0.2) == []  # idempotent
    # the dead worker cannot overwrite the outcome later
    with pytest.raises(JobStateError):
        store.set_status(dead["id"], "succeeded", owner=("b", 2))


def test_delete_job_removes_rows_and_output_dir(jobs_home: Path):
    job = _running()
    with pytest.raises(JobStateError, match="cancel it before deleting"):
        store.delete_job(job["id"])
    store.set_status(job["id"], "failed", error="boom")
    out = Path(job["output_dir"])
    (out / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint-5" / "trainer_state.json").write_text("{}")
    (out / "checkpoints" / "checkpoint-9").mkdir()  # half-written: does not count
    assert store.get_job(job["id"])["checkpoint_step"] == 5
    store.add_metric_points(job["id"], [{"step": 1, "split": "train", "name": "loss", "value": 1.0}])
    store.add_event(job["id"], "hello")
    store.delete_job(job["id"])
    assert not out.exists()
    assert store.get_metrics(job["id"]) == [] and store.get_events(job["id"]) == []
    with pytest.raises(JobNotFound):
        store.get_job(job["id"])


def test_a_deleted_jobs_id_is_never_given_to_a_new_job(jobs_home: Path):
    first, newest = store.create_job(SPEC)["id"], store.create_job(SPEC)["id"]
    sweep = store.create_sweep("grid")["id"]
    store.delete_job(newest)  # the newest row gone: SQLite without AUTOINCREMENT reuses its id
    again = store.create_job(SPEC)["id"]
    assert again > newest > first
    with pytest.raises(JobNotFound):
        store.get_job(newest)
    assert store.create_sweep("another")["id"] > sweep


def test_sweeps_group_jobs(jobs_home: Path):
    sweep = store.create_sweep("lr grid")
    ids = [store.create_job(SPEC, sweep_id=sweep["id"])["id"] for _ in range(3)]
    store.create_job(SPEC)
    assert sorted(j["id"] for j in store.list_jobs(sweep_id=sweep["id"])) == ids
