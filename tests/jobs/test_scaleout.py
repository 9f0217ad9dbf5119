"""Scale-out: PostgreSQL store, Redis queue, two worker processes (as on two machines).

Skips unless scripts/test.sh provided NEAT_TEST_REDIS_URL and NEAT_TEST_PG_URL. Each run uses
its own PostgreSQL schema and Redis queue name, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from jobs import api, db, queue
from jobs.models import Base
from tests.jobs.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.scaleout]


@pytest.fixture
def scaleout_env(redis_url: str, pg_url: str, jobs_home: Path, monkeypatch: pytest.MonkeyPatch):
    """NEAT_DB_URL on a fresh PostgreSQL schema, NEAT_QUEUE_URL on Redis with a fresh queue name."""
    tag = uuid.uuid4().hex[:10]
    schema = f"neat_jobs_{tag}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in pg_url else "?"
    db_url = f"{pg_url}{separator}options=-csearch_path%3D{schema}"
    monkeypatch.setenv("NEAT_DB_URL", db_url)
    monkeypatch.setenv("NEAT_QUEUE_URL", redis_url)
    monkeypatch.setenv("NEAT_QUEUE_NAME", f"neat-test-{tag}")
    try:
        yield db_url
    finally:
        queue.get_huey().flush()
        db.get_engine(db_url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _ready(proc) -> bool:
    return "ready" in Path(proc.log_path).read_text(errors="replace")


@pytest.mark.timeout(240)
def test_two_workers_run_each_job_exactly_once(scaleout_env: str, workers, make_spec):
    db.init_db()
    with db.get_engine().connect() as conn:
        assert conn.execute(text("SELECT current_schema()")).scalar().startswith("neat_jobs_")
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []

    procs = [workers.start(), workers.start()]
    wait_until(lambda: all(_ready(p) for p in procs), 90, "both workers to load the engine", workers)
    ids = [api.submit(make_spec(f"job-{i}", max_steps=3, eval_steps=2), priority=i % 3) for i in range(6)]
    for job_id in ids:  # every id delivered twice: the atomic claim must still run each job once
        queue.enqueue(job_id)
    wait_until(
        lambda: all(api.get_job(i)["status"] not in ("queued", "running") for i in ids),
        180,
        "the six jobs to end",
        workers,
    )
    jobs = [api.get_job(i) for i in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 6, [(j["status"], j["error"]) for j in jobs]
    for job in jobs:
        assert job["attempts"] == 1
        starts = [e for e in api.get_logs(job["id"], tail=None) if e["text"].startswith("started on")]
        assert len(starts) == 1 and f":{job['worker_pid']}," in starts[0]["text"]
        points = api.get_metrics(job["id"])
        assert not [
            k for k, n in Counter((p["step"], p["split"], p["name"]) for p in points).items() if n > 1
        ]
        assert [p["step"] for p in api.get_metrics(job["id"], split="train", name="loss")] == [1, 2, 3]
    assert len({j["worker_pid"] for j in jobs}) == 2  # both workers took jobs
    assert queue.pending_job_ids() == []
