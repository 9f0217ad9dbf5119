"""A disk that fills up: the job ends `failed` with "disk full (...)", the store stays intact,
resume works once space is freed, and submitting on a full disk is one line.

With root the disk is a real small tmpfs; otherwise the runner's classification of an ENOSPC
error and the tolerant metrics.jsonl readers are still tested (simulated ENOSPC).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from jobs import api
from jobs.runner import disk_full
from neat.engine.progress import MetricsFile
from neat.engine.rundir import RunDir
from tests.jobs.conftest import REPO, wait_until


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> a fresh tmpfs of that size (root only); all unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs root (mount -t tmpfs); the simulated tests still run")
    mounted: list[Path] = []

    def mount(where: Path, size: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path, leave: int = 0) -> Path:
    """Write a filler file until only `leave` bytes are free on folder's disk."""
    filler = folder / "filler.bin"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(filler, "wb") as handle:
        try:
            handle.write(b"\0" * max(0, free - leave))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _du(path: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def _status(job_id: int) -> str:
    return api.get_job(job_id)["status"]


def test_disk_full_mid_run_fails_clearly_and_resume_works_after_freeing(
    jobs_home, workers, make_spec, small_disk
):
    runs = small_disk(jobs_home / "runs", "64m")
    # measure one run's footprint on this disk, then leave room for its first checkpoint only
    probe = api.submit(make_spec("probe", max_steps=4, eval_steps=2, save_total_limit=3))
    workers.start()
    wait_until(lambda: _status(probe) in ("succeeded", "failed"), 180, "the probe run", workers)
    assert _status(probe) == "succeeded", api.get_job(probe)["error"]
    out = Path(api.get_job(probe)["output_dir"])
    checkpoint = _du(out / "checkpoints" / "checkpoint-2")
    api.delete(probe)

    job = api.submit(make_spec("fills-the-disk", max_steps=4, eval_steps=2, save_total_limit=3))
    filler = _fill(runs, leave=int(checkpoint * 1.5))
    wait_until(lambda: _status(job) in ("failed", "succeeded", "interrupted"), 180, "the job to end", workers)
    ended = api.get_job(job)
    assert ended["status"] == "failed", ended
    assert ended["error"].startswith("disk full (no space left on "), ended["error"]
    assert ended["checkpoint_step"] == 2  # the complete checkpoint is kept, the broken one removed

    with sqlite3.connect(jobs_home / "neat.db") as db:  # the store is intact
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    filler.unlink()  # space freed: resume continues from the checkpoint and finishes
    api.resume(job)
    wait_until(lambda: _status(job) in ("failed", "succeeded"), 180, "the resumed job", workers)
    assert _status(job) == "succeeded", api.get_job(job)["error"]
    steps = sorted({p["step"] for p in api.get_metrics(job, split="train", name="loss")})
    assert steps == [1, 2, 3, 4]


def test_submitting_on_a_full_disk_is_one_line(jobs_home, make_spec, small_disk, tmp_path, monkeypatch):
    home = small_disk(tmp_path / "home", "2m")
    monkeypatch.setenv("NEAT_HOME", str(home))
    first = api.submit(make_spec("fits"))
    spec_file = tmp_path / "run.yaml"
    make_spec("no-room").save(spec_file)
    _fill(home)
    env = {**os.environ, "NEAT_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "jobs", "submit", str(spec_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: could not save the job"), done.stderr
    assert "Traceback" not in done.stderr
    (home / "filler.bin").unlink()
    assert [j["id"] for j in api.list_jobs()] == [first]  # nothing half-stored


# ---- simulated: no root needed -------------------------------------------------------------------


def test_an_enospc_error_anywhere_in_the_chain_reads_disk_full(tmp_path):
    inner = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.bin"))
    try:
        try:
            raise inner
        except OSError as exc:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed") from exc
    except RuntimeError as outer:
        assert disk_full(outer, tmp_path) == f"disk full (no space left on {tmp_path / 'x.bin'})"
    assert disk_full(ValueError("bad value"), tmp_path) is None


def test_metrics_readers_tolerate_a_cut_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    good = [
        json.dumps({"step": s, "epoch": 0.1 * s, "split": "train", "metrics": {"loss": 1.0 / s}})
        for s in (1, 2, 3)
    ]
    path.write_text("\n".join(good) + '\n{"step": 4, "epoch": 0.4, "spl')  # the disk filled mid-line
    assert [p["step"] for p in RunDir(tmp_path).metric_points(10)] == [1, 2, 3]
    resumed = MetricsFile(RunDir(tmp_path), keep_up_to_step=2)
    resumed.on_event({"kind": "log", "step": 3, "epoch": 0.3, "split": "train", "metrics": {"loss": 0.3}})
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
