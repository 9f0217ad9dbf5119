"""training.num_devices > 1: real data-parallel jobs (2 CPU processes, gloo) run by a real worker
that owns 2 devices (NEAT_WORKER_CPU_DEVICES=2, how a CPU-only machine stands in for 2 GPUs).

They train, stop and fail as single-process jobs do: one continuous curve reported by rank 0,
a cancel that stops every process, a failing process that fails the job with its reason.
NCCL on real GPUs is not tested here (the same code path, another torch backend).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jobs import api
from jobs.models import END_STATES
from tests.jobs.conftest import pid_alive, wait_until

TWO_DEVICES = {"NEAT_WORKER_CPU_DEVICES": "2"}


def _rank_pids() -> list[int]:
    """The `jobs.ddp_rank` processes of this test (its NEAT_HOME), alive."""
    home = os.environ["NEAT_HOME"].encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"jobs.ddp_rank" not in argv or b"jobs.ddp_launch" in argv:  # ranks, not torchrun
                continue
            if b"NEAT_HOME=" + home + b"\0" in (entry / "environ").read_bytes() + b"\0":
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if pid_alive(pid)]


def _logs(job_id: int) -> list[str]:
    return [e["text"] for e in api.get_logs(job_id, tail=None)]


def _ended(job_id: int):
    job = api.get_job(job_id)
    return job if job["status"] in END_STATES else None


def _train_losses(job_id: int) -> list[int]:
    return [p["step"] for p in api.get_metrics(job_id) if p["split"] == "train" and p["name"] == "loss"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_job_waits_for_a_worker_with_its_devices_then_trains_on_two_processes(workers, make_spec):
    workers.start()  # owns one device: it must leave the job alone
    job_id = api.submit(make_spec("ddp", max_steps=6, eval_steps=3, num_devices=2))
    waits = "waits for a worker with 2 devices (training.num_devices: 2)"
    wait_until(lambda: any(t.startswith(waits) for t in _logs(job_id)), 120, "the wait to be logged", workers)
    assert api.get_job(job_id)["status"] == "queued"
    workers.start(env=TWO_DEVICES)
    job = wait_until(lambda: _ended(job_id), 240, "the job to end", workers)
    assert job["status"] == "succeeded", (job["error"], workers.logs())
    assert sum(t.startswith("waits for a worker") for t in _logs(job_id)) == 1  # said once
    assert any(t.startswith("started on") and ", 2 processes, cpu" in t for t in _logs(job_id))
    summary = json.loads((Path(job["output_dir"]) / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["global_step"] == 6
    assert sorted(_train_losses(job_id)) == list(range(1, 7))  # one curve, each step once
    assert {p["split"] for p in api.get_metrics(job_id)} >= {"train", "eval", "final"}
    assert job["progress"] == 1.0 and job["best_metric_name"]
    assert _rank_pids() == []


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_cancel_stops_every_process_and_resume_goes_on_with_the_same_curve(workers, make_spec):
    workers.start(env=TWO_DEVICES)
    job_id = api.submit(make_spec("ddp-cancel", max_steps=600, eval_steps=1000, num_devices=2))
    wait_until(lambda: _train_losses(job_id), 240, "the first step", workers)
    ranks = _rank_pids()
    assert len(ranks) == 2
    api.cancel(job_id)
    job = wait_until(lambda: _ended(job_id), 120, "the job to stop", workers)
    assert job["status"] == "cancelled", (job["error"], workers.logs())
    stopped_at = job["checkpoint_step"]
    assert stopped_at is not None and stopped_at < 600  # saved on the way out
    assert any(t.startswith("stop requested at step") for t in _logs(job_id))
    wait_until(lambda: not any(pid_alive(pid) for pid in ranks), 30, "every rank to end", workers)

    api.resume(job_id)
    job = wait_until(lambda: _ended(job_id), 240, "the resumed job to end", workers)
    assert job["status"] == "succeeded", (job["error"], workers.logs())
    assert job["resumed_from"] == stopped_at
    assert sorted(_train_losses(job_id)) == list(range(1, 601))  # one curve, each step once
    summary = json.loads((Path(job["output_dir"]) / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["global_step"] == 600


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_failing_process_fails_the_job_with_its_reason(workers, make_spec):
    workers.start(env={**TWO_DEVICES, "NEAT_SIMULATE_RANK_FAILURE": "1:2"})
    job_id = api.submit(make_spec("ddp-fail", max_steps=40, num_devices=2))
    job = wait_until(lambda: _ended(job_id), 240, "the job to end", workers)
    assert job["status"] == "failed", workers.logs()
    assert job["error"] == "RuntimeError: simulated failure of rank 1 at step 2 (rank 1 of 2)"
    assert any(t.startswith("traceback of the failed process") and "on_step_end" in t for t in _logs(job_id))
    assert _rank_pids() == []
    # the worker lives on and takes the next job
    second = api.submit(make_spec("after-the-failure", max_steps=2))
    assert wait_until(lambda: _ended(second), 120, "the next job", workers)["status"] == "succeeded"
