"""The job list in pages (limit/offset with a count, filtered by status and name), deleting with
or without the files, and what a deletion would remove — on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import api, store
from jobs.errors import JobNotFound

SPEC = {"name": "run", "task": "classification"}


def _jobs(names: list[str]) -> list[int]:
    return [store.create_job(SPEC, name=name)["id"] for name in names]


def test_pages_are_newest_first_and_count_matches_the_filters(jobs_home: Path):
    ids = _jobs([f"neat-sst-{i}" if i % 3 else f"lora_100%-{i}" for i in range(23)])
    store.set_status(ids[4], "running")
    assert store.count_jobs() == 23
    first = store.list_jobs(limit=10)
    second = store.list_jobs(limit=10, offset=10)
    last = store.list_jobs(limit=10, offset=20)
    assert [j["id"] for j in first + second + last] == sorted(ids, reverse=True)
    assert len(last) == 3
    assert store.count_jobs(status="running") == 1 and store.list_jobs(status="running")[0]["id"] == ids[4]
    # name filter: any case, a part of the name; LIKE's wildcards are plain characters
    assert store.count_jobs(name="NEAT-SST") == 15
    assert store.count_jobs(name="100%") == 8 and store.count_jobs(name="0%-") == 8
    assert store.count_jobs(name="t_1") == 0  # "_" is not "any character" (it would match "t-1")
    assert store.count_jobs(name="neat", status="running") == 1
    assert api.count_jobs(name="lora") == len(api.list_jobs(name="lora", limit=100))


def test_a_page_of_ten_thousand_jobs_reads_only_that_page(jobs_home: Path):
    from sqlalchemy import insert

    from jobs.db import session
    from jobs.models import Job, utcnow

    rows = [
        dict(
            name=f"job-{i}",
            status="succeeded",
            spec=SPEC,
            priority=0,
            created_at=utcnow(),
            progress=1.0,
            cancel_requested=False,
            attempts=1,
            auto_resumed=False,
        )
        for i in range(10_000)
    ]
    with session(write=True) as s:
        s.execute(insert(Job), rows)
    assert store.count_jobs() == 10_000
    page = store.list_jobs(limit=50, offset=9_980)
    assert len(page) == 20 and page[-1]["name"] == "job-0"


def test_delete_keep_files_removes_the_row_and_keeps_the_folder(jobs_home: Path):
    keep, drop = _jobs(["keep-me", "drop-me"])
    for job_id in (keep, drop):
        store.set_status(job_id, "running")
        store.set_status(job_id, "failed", error="x")
        out = Path(store.get_job(job_id)["output_dir"])
        (out / "adapter").mkdir(parents=True)
        (out / "adapter" / "adapter_model.safetensors").write_bytes(b"0" * 1000)
        for step in (5, 10):
            (out / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
            (out / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    plan = api.deletion_plan(keep)
    assert plan["exists"] and plan["adapter"] and plan["checkpoints"] == 2 and plan["bytes"] >= 1000
    assert plan["name"] == "keep-me" and plan["folder"] == store.get_job(keep)["output_dir"]
    kept_dir = Path(plan["folder"])
    api.delete(keep, keep_files=True)
    with pytest.raises(JobNotFound):
        api.get_job(keep)
    assert (kept_dir / "adapter" / "adapter_model.safetensors").is_file()  # the files stay
    dropped_dir = Path(api.get_job(drop)["output_dir"])
    api.delete(drop)
    assert not dropped_dir.exists()


def test_cancelled_and_interrupted_jobs_keep_no_eta(jobs_home: Path):
    a, b = _jobs(["a", "b"])
    for job_id in (a, b):
        store.set_status(job_id, "running")
        store.update_running(job_id, progress=0.5, eta_seconds=42.0)
    store.set_status(a, "cancelled")
    store.set_status(b, "interrupted", error="worker shut down")
    assert store.get_job(a)["eta_seconds"] is None and store.get_job(b)["eta_seconds"] is None


def test_cli_delete_keep_files(jobs_home: Path, capsys):
    from jobs.__main__ import main

    (job_id,) = _jobs(["cli-keep"])
    store.set_status(job_id, "cancelled")
    out = Path(store.get_job(job_id)["output_dir"])
    out.mkdir(parents=True)
    assert main(["delete", str(job_id), "--keep-files"]) == 0
    assert "run folder was kept" in capsys.readouterr().out
    assert out.is_dir() and store.count_jobs() == 0
