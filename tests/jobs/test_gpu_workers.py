"""`--gpus`: one real worker process per GPU (or per group of GPUs with --gpus-per-worker), each
seeing only its own; jobs record where they ran.

On a CPU-only machine CUDA finds no device whatever CUDA_VISIBLE_DEVICES says, so training
runs on the CPU; what is tested is the scheduling: the environment each worker gets and the
device each job records.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import api
from jobs.devices import GpuSpecError, busy_gpus, group_gpus, owned_devices, parse_gpus, worker_env
from jobs.models import END_STATES
from jobs.worker import _without_gpus
from jobs.worker import main as worker_main
from tests.jobs.conftest import wait_until


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def test_gpu_lists_are_checked():
    assert parse_gpus("0,1") == ["0", "1"]
    assert parse_gpus(" 2 ") == ["2"]
    assert parse_gpus("all", available=["0", "1", "2"]) == ["0", "1", "2"]
    with pytest.raises(GpuSpecError, match="no GPU found"):
        parse_gpus("all", available=[])
    with pytest.raises(GpuSpecError, match="not a GPU number"):
        parse_gpus("0,x")
    with pytest.raises(GpuSpecError, match="twice"):
        parse_gpus("1,1")
    env = worker_env("3", base={"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == "3" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert _without_gpus(["--gpus", "0,1", "--workers", "2", "--gpus=all"]) == ["--workers", "2"]
    assert busy_gpus(["gpu:1", "cpu", None, "gpu:0"]) == {"0", "1"}


def test_gpus_split_into_workers_of_n(monkeypatch, capsys):
    assert group_gpus(["0", "1", "2", "3"], 2) == [["0", "1"], ["2", "3"]]
    assert group_gpus(["4", "5"], 1) == [["4"], ["5"]]
    with pytest.raises(GpuSpecError, match="3 GPUs .0,1,2. do not split into workers of 2"):
        group_gpus(["0", "1", "2"], 2)
    with pytest.raises(GpuSpecError, match="at least 1"):
        group_gpus(["0"], 0)
    env = worker_env(["2", "3"], base={})
    assert env["CUDA_VISIBLE_DEVICES"] == env["NEAT_WORKER_GPUS"] == "2,3"
    assert busy_gpus(["gpu:2,3", "gpu:0"]) == {"0", "2", "3"}
    assert _without_gpus(["--gpus", "all", "--gpus-per-worker", "2", "-v", "--gpus-per-worker=4"]) == ["-v"]
    # what a worker owns: its GPUs, else the CPU, counted as NEAT_WORKER_CPU_DEVICES devices
    monkeypatch.setenv("NEAT_WORKER_GPUS", "2,3")
    monkeypatch.setenv("NEAT_WORKER_CPU_DEVICES", "4")
    assert owned_devices() == 2
    monkeypatch.delenv("NEAT_WORKER_GPUS")
    assert owned_devices() == 4
    monkeypatch.delenv("NEAT_WORKER_CPU_DEVICES")
    assert owned_devices() == 1
    for argv, words in [
        (["--gpus", "0,1,2", "--gpus-per-worker", "2"], "do not split into workers of 2"),
        (["--gpus-per-worker", "2"], "needs --gpus"),
    ]:
        with pytest.raises(SystemExit) as stopped:
            worker_main(argv)
        assert stopped.value.code == 2 and words in capsys.readouterr().err
    monkeypatch.setenv("NEAT_WORKER_CPU_DEVICES", "two")
    with pytest.raises(SystemExit):
        worker_main([])
    assert "NEAT_WORKER_CPU_DEVICES must be a whole number" in capsys.readouterr().err


def test_each_worker_of_a_gpu_group_sees_its_gpus(workers):
    proc = workers.start("--gpus", "0,1,2,3", "--gpus-per-worker", "2")
    log = Path(proc.log_path)
    wait_until(lambda: log.read_text().count("(2 devices)") == 2, 120, "2 workers of 2 GPUs", workers)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    seen = sorted(
        (_environ(int(pid))["CUDA_VISIBLE_DEVICES"], _environ(int(pid))["NEAT_WORKER_GPUS"])
        for pid in children
    )
    assert seen == [("0,1", "0,1"), ("2,3", "2,3")]


def test_a_bad_gpu_list_stops_the_worker_with_the_reason(workers):
    proc = workers.start("--gpus", "0,zero")
    assert proc.wait(60) == 2
    assert "zero is not a GPU number" in Path(proc.log_path).read_text()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_worker_per_gpu_and_jobs_record_their_gpu(workers, make_spec):
    proc = workers.start("--gpus", "0,1")
    log = Path(proc.log_path)
    wait_until(lambda: log.read_text().count(" ready") == 2, 120, "2 ready GPU workers", workers)
    ids = [api.submit(make_spec(f"gpu-{i}", max_steps=40)) for i in range(2)]

    def both_running():
        jobs = [api.get_job(i) for i in ids]
        return jobs if all(j["status"] == "running" for j in jobs) else None

    running = wait_until(both_running, 120, "both jobs running at once", workers)
    assert sorted(j["device"] for j in running) == ["gpu:0", "gpu:1"]
    for job in running:  # the process training it sees only the GPU the job recorded
        env = _environ(job["worker_pid"])
        assert env["CUDA_VISIBLE_DEVICES"] == job["device"].removeprefix("gpu:")
    wait_until(lambda: all(api.get_job(i)["status"] in END_STATES for i in ids), 200, "jobs to end", workers)
    for job_id in ids:
        job = api.get_job(job_id)
        assert job["status"] == "succeeded", job["error"]
        starts = [e["text"] for e in api.get_logs(job_id, tail=None) if e["text"].startswith("started on")]
        assert starts and starts[0].endswith(f"{job['device']} (attempt 1)")
