"""Real `python -m jobs.worker` processes training a tiny real model from a real queue.

Each test has its own NEAT_HOME (SQLite store and queue); workers use 0.3 s heartbeats and a
3 s heartbeat timeout so that dead workers are noticed quickly.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from jobs import api, queue
from jobs.models import END_STATES
from tests.jobs.conftest import group_members, pid_alive, wait_until
from tests.tiny_runs import sentiment_csv as write_csv

pytestmark = [pytest.mark.slow]


def _status(job_id: int) -> str:
    return api.get_job(job_id)["status"]


def _ended(*ids: int):
    return lambda: all(_status(i) in END_STATES for i in ids)


def _train_loss_steps(job_id: int) -> list[int]:
    return [p["step"] for p in api.get_metrics(job_id, split="train", name="loss")]


def _assert_one_continuous_curve(job_id: int, max_steps: int, eval_steps: int) -> None:
    points = api.get_metrics(job_id)
    keys = [(p["step"], p["split"], p["name"]) for p in points]
    assert len(keys) == len(set(keys)), "duplicated metric points"
    assert _train_loss_steps(job_id) == list(range(1, max_steps + 1))  # strictly increasing, no gap
    evals = [p["step"] for p in api.get_metrics(job_id, split="eval", name="loss")]
    assert evals == list(range(eval_steps, max_steps + 1, eval_steps))


@pytest.mark.timeout(240)
def test_fifty_concurrent_jobs_all_reach_an_end_state(workers, make_spec, tmp_path: Path):
    """50 jobs submitted from 50 threads while 2 worker processes already take them: real
    trainings, jobs with bad data that fail fast, and jobs cancelled right after submission.
    Every job ends, the failures block nothing, and no job runs twice although every id is
    enqueued twice."""
    no_label = write_csv(tmp_path / "no_label.csv", label_column="sentiment")
    specs = [make_spec(f"train-{i}", max_steps=1) for i in range(10)]
    specs += [make_spec(f"bad-data-{i}", csv=no_label) for i in range(20)]
    specs += [make_spec(f"cancel-{i}", max_steps=200) for i in range(20)]  # stopped if already taken
    proc = workers.start("--workers", "2")
    wait_until(lambda: Path(proc.log_path).read_text().count(" ready") == 2, 90, "2 ready workers", workers)
    ids: dict[str, int] = {}
    errors: list[str] = []
    barrier = threading.Barrier(len(specs))

    def submit(spec):
        try:
            barrier.wait()
            ids[spec.name] = api.submit(spec)
            if spec.name.startswith("cancel-"):
                api.cancel(ids[spec.name])
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=submit, args=(spec,)) for spec in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(api.list_jobs()) == 50
    for job_id in ids.values():  # a duplicate queue entry for every job: each must still run once
        queue.enqueue(job_id)
    wait_until(_ended(*ids.values()), 200, "all 50 jobs to end", workers)
    jobs = {j["name"]: j for j in api.list_jobs()}
    for name, job in jobs.items():
        if name.startswith("train-"):
            assert job["status"] == "succeeded", job
            assert job["attempts"] == 1
            assert _train_loss_steps(job["id"]) == [1]
        elif name.startswith("bad-data-"):
            assert job["status"] == "failed" and job["attempts"] == 1
            assert "label" in job["error"], job["error"]
        else:
            assert job["status"] == "cancelled" and job["attempts"] in (0, 1)
    assert len({j["worker_pid"] for j in jobs.values() if j["worker_pid"]}) == 2  # both processes worked
    # the duplicate entries (and those of the cancelled jobs) are taken and skipped
    wait_until(lambda: queue.pending_job_ids() == [], 30, "the queue to drain", workers)
    assert [j["attempts"] for j in api.list_jobs() if j["status"] != "cancelled"] == [1] * 30
    assert all(j["attempts"] <= 1 for j in api.list_jobs())


@pytest.mark.timeout(240)
def test_kill_dash_nine_then_new_worker_marks_interrupted_and_resume_continues(workers, make_spec):
    max_steps, eval_steps = 80, 10
    done = api.submit(make_spec("finished-first", max_steps=2))
    job_id = api.submit(make_spec("killed", max_steps=max_steps, eval_steps=eval_steps, save_total_limit=3))
    queue.get_huey().flush()  # a lost queue: the worker enqueues queued jobs again at start

    first = workers.start()
    wait_until(lambda: _status(done) == "succeeded", 90, "the first job to succeed", workers)
    done_metrics = api.get_metrics(done)
    checkpoints = Path(api.get_job(job_id)["output_dir"]) / "checkpoints"
    # kill mid-training, a little after its second checkpoint
    second = checkpoints / f"checkpoint-{2 * eval_steps}" / "trainer_state.json"
    wait_until(second.is_file, 120, "the second checkpoint", workers)
    time.sleep(0.2)
    training_pid = api.get_job(job_id)["worker_pid"]
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    wait_until(lambda: not pid_alive(training_pid), 10, "the training process to die with its worker")
    wait_until(lambda: group_members(first.pid) == [], 10, "no orphan of the killed worker")
    job = api.get_job(job_id)
    assert job["status"] == "running"  # nobody is left to say otherwise...
    assert max(_train_loss_steps(job_id)) < max_steps
    before = {p["step"]: p["value"] for p in api.get_metrics(job_id, split="train", name="loss")}

    workers.start()  # ...until the next worker notices the stale heartbeat
    wait_until(lambda: _status(job_id) == "interrupted", 30, "the job to be marked interrupted", workers)
    job = api.get_job(job_id)
    assert "stopped responding" in job["error"] and job["checkpoint_step"] >= 2 * eval_steps
    # restarting lost nothing: the finished job and the metrics stored before the kill are there
    assert api.get_job(done)["status"] == "succeeded" and api.get_metrics(done) == done_metrics

    api.resume(job_id)
    wait_until(lambda: _status(job_id) in END_STATES, 120, "the resumed job to end", workers)
    job = api.get_job(job_id)
    assert job["status"] == "succeeded", (job, workers.logs())
    assert job["attempts"] == 2 and job["resumed_from"] >= 2 * eval_steps
    _assert_one_continuous_curve(job_id, max_steps, eval_steps)
    after = {p["step"]: p["value"] for p in api.get_metrics(job_id, split="train", name="loss")}
    kept = [s for s in before if s <= job["resumed_from"]]
    assert kept and all(after[s] == before[s] for s in kept)  # the points before the checkpoint stay
    texts = [e["text"] for e in api.get_logs(job_id, tail=None)]
    assert any("marked interrupted" in t for t in texts)
    assert any(t.startswith(f"resuming from the checkpoint at step {job['resumed_from']}") for t in texts)


@pytest.mark.timeout(180)
def test_cancel_queued_and_running_jobs(workers, make_spec):
    max_steps, eval_steps = 100, 10
    running = api.submit(make_spec("long", max_steps=max_steps, eval_steps=eval_steps))
    queued = api.submit(make_spec("waiting"))
    proc = workers.start()
    wait_until(
        lambda: api.get_job(running)["checkpoint_step"], 120, "a checkpoint of the running job", workers
    )
    assert api.cancel(queued)["status"] == "cancelled"  # at once: it never started
    flagged = api.cancel(running)
    assert flagged["status"] == "running" and flagged["cancel_requested"]
    wait_until(lambda: _status(running) == "cancelled", 30, "the running job to stop", workers)
    job = api.get_job(running)
    assert job["error"] is None and job["checkpoint_step"] is not None
    stopped_at = max(_train_loss_steps(running))
    assert stopped_at < max_steps and job["checkpoint_step"] == stopped_at  # saved where it stopped
    assert api.get_job(queued)["attempts"] == 0

    # a cancelled job resumes from its checkpoint and finishes one continuous curve
    api.resume(running)
    wait_until(lambda: _status(running) in END_STATES, 120, "the resumed job to end", workers)
    assert _status(running) == "succeeded", workers.logs()
    assert api.get_job(running)["resumed_from"] == stopped_at
    _assert_one_continuous_curve(running, max_steps, eval_steps)

    # stopping the worker (SIGTERM) interrupts its job, which stays resumable
    last = api.submit(make_spec("shut down", max_steps=max_steps, eval_steps=eval_steps))
    wait_until(lambda: api.get_job(last)["checkpoint_step"], 120, "a checkpoint of the last job", workers)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    job = api.get_job(last)
    assert job["status"] == "interrupted" and job["error"] == "the worker was shut down while training"
    assert api.resume(last)["status"] == "queued"


@pytest.mark.timeout(180)
def test_failures_end_with_their_reason_and_the_next_job_succeeds(workers, make_spec, tmp_path: Path):
    """One worker, with the engine's test hook that runs out of memory at step 3."""
    raises = api.submit(make_spec("raises"))
    # an unexpected error: the run folder cannot be created (a file is in the way)
    Path(api.get_job(raises)["output_dir"]).parent.mkdir(parents=True, exist_ok=True)
    Path(api.get_job(raises)["output_dir"]).write_text("not a folder")
    bad_data = api.submit(make_spec("bad-data", csv=write_csv(tmp_path / "x.csv", label_column="sentiment")))
    oom = api.submit(make_spec("oom", max_steps=10))
    fine = api.submit(make_spec("fine", max_steps=2))
    workers.start(env={"NEAT_SIMULATE_OOM_AT_STEP": "3"})
    wait_until(_ended(raises, bad_data, oom, fine), 120, "the four jobs to end", workers)

    job = api.get_job(raises)
    assert job["status"] == "failed" and job["error"].startswith("FileExistsError: "), job["error"]
    tracebacks = [e["text"] for e in api.get_logs(raises) if e["text"].startswith("traceback")]
    assert len(tracebacks) == 1 and "FileExistsError" in tracebacks[0]
    job = api.get_job(bad_data)
    assert job["status"] == "failed" and "label" in job["error"] and "Traceback" not in job["error"]
    job = api.get_job(oom)
    assert job["status"] == "failed" and job["error"].startswith("out of memory: "), job["error"]
    assert "out of memory: out of memory" not in job["error"] and "batch_size" in job["error"]
    assert max(_train_loss_steps(oom)) < 10
    assert _status(fine) == "succeeded"
    assert [j["worker_pid"] for j in api.list_jobs()] == [api.get_job(fine)["worker_pid"]] * 4  # one worker
