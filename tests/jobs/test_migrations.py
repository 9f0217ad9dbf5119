"""Schema versioning: Alembic upgrades keep data, match the models, and run once under races."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from jobs import db, store
from jobs.models import Base

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_url(jobs_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{jobs_home / 'versioned.db'}"
    monkeypatch.setenv("NEAT_DB_URL", url)
    return url


def test_upgrade_from_first_revision_keeps_data(db_url: str):
    db.upgrade(db_url, "0001")
    assert db.current_revision(db_url) == "0001"
    with db.get_engine(db_url).begin() as conn:
        conn.execute(
            text("INSERT INTO sweeps (id, name, created_at) VALUES (1, 'grid', '2025-01-01 00:00:00')")
        )
        conn.execute(
            text(
                "INSERT INTO jobs (id, name, status, spec, priority, sweep_id, created_at, progress, "
                "cancel_requested, output_dir, error) VALUES (1, 'old run', 'failed', :spec, 2, 1, "
                "'2025-01-01 00:00:01', 0.5, 0, NULL, 'boom')"
            ),
            {"spec": '{"name": "old run"}'},
        )
        conn.execute(
            text(
                "INSERT INTO metric_points (job_id, step, epoch, split, name, value, time) "
                "VALUES (1, 10, 0.5, 'train', 'loss', 0.25, '2025-01-01 00:00:02')"
            )
        )
        conn.execute(
            text("INSERT INTO job_events (job_id, time, level, text) VALUES (1, '2025-01-01', 'info', 'hi')")
        )

    db.upgrade(db_url, "head")
    assert db.current_revision(db_url) == "0006"
    job = store.get_job(1)
    assert job["device"] is None  # jobs from before 0003 ran somewhere unrecorded
    assert job["kind"] == "train"  # every job before 0005 trained
    assert (job["name"], job["status"], job["priority"], job["sweep_id"], job["error"]) == (
        "old run",
        "failed",
        2,
        1,
        "boom",
    )
    assert job["spec"] == {"name": "old run"}
    assert (job["attempts"], job["auto_resumed"], job["resumed_from"], job["retry_of"]) == (
        0,
        False,
        None,
        None,
    )
    assert [(p["step"], p["name"], p["value"]) for p in store.get_metrics(1)] == [(10, "loss", 0.25)]
    assert [e["text"] for e in store.get_events(1)] == ["hi"]
    # the upgraded database is fully usable
    assert store.requeue(1)["status"] == "queued"


def test_migrated_schema_matches_the_models(db_url: str):
    db.init_db(db_url)
    with db.get_engine(db_url).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_concurrent_first_start_migrates_once(db_url: str):
    """Several processes (UI, workers) opening a new database at once all succeed."""
    code = (  # jobs.db and jobs.models only: no torch import, so the processes really overlap
        "from jobs import db; from jobs.models import Job\n"
        "with db.session(write=True) as s: s.add(Job(name='x', spec={}, status='queued'))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE) for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert db.current_revision(db_url) == "0006"
    assert len(store.list_jobs()) == 4


def test_revision_0005_marks_every_older_job_a_training_job_and_stores_evaluations(db_url: str):
    db.upgrade(db_url, "0004")
    with db.get_engine(db_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (id, name, status, spec, priority, created_at, progress, cancel_requested, "
                "attempts, auto_resumed) VALUES (1, 'old', 'succeeded', '{}', 0, '2025-01-01', 1.0, 0, 1, 0)"
            )
        )
    db.upgrade(db_url, "head")
    assert store.get_job(1)["kind"] == "train"
    job = store.create_job({"kind": "evaluate", "run_job": 1}, name="score it", kind="evaluate")
    assert store.get_job(job["id"])["kind"] == "evaluate"
    assert job["output_dir"].endswith(f"evaluations/{job['id']}")
    assert [j["id"] for j in store.list_jobs(kind="evaluate")] == [job["id"]]
    assert [j["id"] for j in store.list_jobs(kind="train")] == [1]
    from alembic import command

    command.downgrade(db.alembic_config(db_url), "0004")  # and back: the rows stay
    with db.get_engine(db_url).connect() as conn:
        assert "kind" not in [row[1] for row in conn.execute(text("PRAGMA table_info(jobs)"))]
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 2
