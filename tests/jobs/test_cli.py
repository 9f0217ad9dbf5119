"""`python -m jobs ...` as a user types it (no worker: the jobs stay queued or get cancelled).

One real subprocess proves the entry point; the rest call the same `main(argv)` in-process
(a fresh interpreter costs seconds per command, since importing neat loads torch).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobs import api
from jobs.__main__ import main
from tests.jobs.conftest import REPO


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_submit_list_show_logs_cancel_retry_delete(jobs_home: Path, make_spec, tmp_path: Path, capsys):
    spec_file = tmp_path / "run.yaml"
    make_spec("cli run").save(spec_file)
    out = subprocess.run(
        [sys.executable, "-m", "jobs", "submit", str(spec_file), "--priority", "4"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "submitted job 1 (cli run)" in out.stdout
    assert api.get_job(1)["priority"] == 4

    code, out, _ = run_cli(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["ID", "KIND", "NAME", "STATUS"]
    assert lines[2].split()[:4] == ["1", "train", "cli", "run"]

    assert run_cli(capsys, "cancel", "1")[1].strip() == "job 1: cancelled"
    code, out, _ = run_cli(capsys, "show", "1")
    assert "status        cancelled" in out and "priority      4" in out
    code, out, _ = run_cli(capsys, "logs", "1", "--follow")  # returns: the job has ended
    assert code == 0 and "cancelled while queued" in out

    code, _, err = run_cli(capsys, "resume", "1")
    assert code == 1 and "no checkpoint to resume from" in err
    assert "retried as job 2" in run_cli(capsys, "retry", "1")[1]
    assert api.get_job(2)["retry_of"] == 1
    assert run_cli(capsys, "delete", "1")[1].strip() == "job 1 deleted"
    assert [j["id"] for j in api.list_jobs()] == [2]
    assert "queued" in run_cli(capsys, "list", "--status", "queued")[1]


def test_cli_reports_user_errors_without_a_traceback(jobs_home: Path, tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmethod:\n  r: 0\ntraining:\n  batch_size: 0\n")
    code, _, err = run_cli(capsys, "submit", str(bad))
    assert code == 1 and "method.r" in err and "training.batch_size" in err
    code, _, err = run_cli(capsys, "show", "7")
    assert code == 1 and err.strip() == "error: job 7 does not exist"
    assert run_cli(capsys, "list")[1].strip() == "no jobs"


def test_submit_runs_the_pre_queue_check_unless_told_not_to(
    jobs_home: Path, make_spec, tmp_path: Path, capsys
):
    spec = make_spec("typo")
    spec.method.target_modules = ["query", "valeu"]
    spec.save(tmp_path / "typo.yaml")
    code, out, err = run_cli(capsys, "submit", str(tmp_path / "typo.yaml"))
    assert code == 1 and "'valeu'" in err and "nothing was queued" in err
    assert api.list_jobs() == []
    code, out, _ = run_cli(capsys, "submit", str(tmp_path / "typo.yaml"), "--no-check")
    assert code == 0 and [j["name"] for j in api.list_jobs()] == ["typo"]
