"""The jobs facade without a worker: validation, queueing, priorities, cancel/resume/retry rules.

The queue is real (SQLite-backed Huey under NEAT_HOME); `queue.run_job` is called in-process
where a test needs the task's behaviour for a job it must skip.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from jobs import api, queue, store
from jobs.errors import JobNotFound, JobStateError
from neat.engine.errors import SpecError, UserError


def test_submit_validates_and_enqueues(jobs_home: Path, make_spec):
    job_id = api.submit(make_spec("first run"))
    job = api.get_job(job_id)
    assert job["status"] == "queued" and job["name"] == "first run"
    assert job["spec"]["training"]["max_steps"] == 2
    assert queue.pending_job_ids() == [job_id]

    bad = make_spec(learning_rate=5.0)
    bad.method.r = 0
    with pytest.raises(SpecError) as info:
        api.submit(bad)
    assert {e.field for e in info.value.errors} == {"method.r", "training.learning_rate"}
    with pytest.raises(SpecError, match="unknown field"):
        api.submit({"name": "x", "trainin": {}})
    assert len(api.list_jobs()) == 1 and queue.pending_job_ids() == [job_id]


def test_priorities_order_the_queue(jobs_home: Path, make_spec):
    low = api.submit(make_spec("low"), priority=0)
    high = api.submit(make_spec("high"), priority=10)
    mid = api.submit(make_spec("mid"), priority=5)
    assert queue.pending_job_ids() == [high, mid, low]


def test_fifty_concurrent_submissions(jobs_home: Path, make_spec):
    spec = make_spec("burst")
    ids, errors = [], []
    barrier = threading.Barrier(50)

    def submit():
        try:
            barrier.wait()
            ids.append(api.submit(spec))
        except Exception as exc:  # "database is locked" would land here
            errors.append(repr(exc))

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(ids) == list(range(1, 51))
    assert len(api.list_jobs(status="queued")) == 50
    assert sorted(queue.pending_job_ids()) == sorted(ids)


def test_cancel_queued_job_is_skipped_by_the_task(jobs_home: Path, make_spec):
    job_id = api.submit(make_spec())
    assert api.cancel(job_id)["status"] == "cancelled"
    assert queue.run_job(job_id) == "skipped"  # what the worker does with the stale queue entry
    job = api.get_job(job_id)
    assert job["status"] == "cancelled" and job["attempts"] == 0
    assert "cancelled while queued" in [e["text"] for e in api.get_logs(job_id)]
    with pytest.raises(JobStateError, match="only queued or running"):
        api.cancel(job_id)
    assert queue.run_job(4242) == "skipped"  # deleted / unknown jobs are skipped too


def test_resume_needs_an_ended_job_with_a_checkpoint(jobs_home: Path, make_spec):
    job_id = api.submit(make_spec())
    with pytest.raises(JobStateError, match="only interrupted, cancelled, failed"):
        api.resume(job_id)
    api.cancel(job_id)
    with pytest.raises(JobStateError, match="no checkpoint"):
        api.resume(job_id)
    checkpoint = Path(api.get_job(job_id)["output_dir"]) / "checkpoints" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    job = api.resume(job_id)
    assert job["id"] == job_id and job["status"] == "queued" and job["checkpoint_step"] == 4
    assert queue.pending_job_ids().count(job_id) == 2  # the old cancelled entry is skipped by its claim


def test_retry_makes_a_new_job_with_the_same_spec(jobs_home: Path, make_spec):
    sweep = store.create_sweep("grid")
    job_id = api.submit(make_spec("again"), priority=3, sweep=sweep["id"])
    with pytest.raises(JobStateError, match="wait for it to end"):
        api.retry(job_id)
    api.cancel(job_id)
    new_id = api.retry(job_id)
    new = api.get_job(new_id)
    old = api.get_job(job_id)
    assert new_id != job_id and new["status"] == "queued" and new["retry_of"] == job_id
    assert (new["spec"], new["priority"], new["sweep_id"]) == (old["spec"], 3, sweep["id"])
    assert new["output_dir"] != old["output_dir"]


def test_delete(jobs_home: Path, make_spec):
    job_id = api.submit(make_spec())
    store.claim_job(job_id, "elsewhere", 1)
    with pytest.raises(JobStateError, match="running"):
        api.delete(job_id)
    store.set_status(job_id, "failed", error="x")
    api.delete(job_id)
    with pytest.raises(JobNotFound):
        api.get_job(job_id)
    with pytest.raises(UserError):
        api.get_logs(job_id)


def test_submit_sweep_validates_every_spec_first(jobs_home: Path, make_spec):
    good, bad = make_spec("a"), make_spec("b")
    bad.training.batch_size = 0
    with pytest.raises(SpecError, match="training.batch_size"):
        api.submit_sweep([good, bad], "grid")
    assert api.list_jobs() == []
    ids = api.submit_sweep(
        [make_spec(f"lr-{i}", learning_rate=lr) for i, lr in enumerate((1e-3, 1e-2))], "lr"
    )
    jobs = [api.get_job(i) for i in ids]
    assert len({j["sweep_id"] for j in jobs}) == 1 and jobs[0]["sweep_id"] is not None
    assert {j["id"] for j in api.list_jobs(sweep=jobs[0]["sweep_id"])} == set(ids)


def test_lost_queue_entries_are_enqueued_again(jobs_home: Path, make_spec):
    ids = [api.submit(make_spec(f"j{i}"), priority=i) for i in range(3)]
    queue.get_huey().flush()  # the queue file was lost or flushed
    assert queue.pending_job_ids() == []
    assert sorted(queue.enqueue_missing()) == ids
    assert queue.pending_job_ids() == ids[::-1]  # priorities kept
    assert queue.enqueue_missing() == []  # idempotent
