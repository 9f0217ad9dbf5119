"""NEAT_AUTH parsing and the command line of `python -m app`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import __main__ as app_main
from app.config import parse_auth


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("ann:secret", [("ann", "secret")]),
        ("ann:pa:ss:word", [("ann", "pa:ss:word")]),
        (" ann:one , bob:two ", [("ann", "one"), ("bob", "two")]),
        ("ann:one,", [("ann", "one")]),
    ],
)
def test_parse_auth(raw, expected):
    assert parse_auth(raw) == expected


@pytest.mark.parametrize("raw", ["ann", "ann:", ":secret", "ann:x,bob", ","])
def test_parse_auth_rejects_malformed_values(raw):
    with pytest.raises(ValueError, match="user:password"):
        parse_auth(raw)


def test_command_line_defaults_are_safe(monkeypatch):
    monkeypatch.delenv("NEAT_HOST", raising=False)
    monkeypatch.delenv("NEAT_PORT", raising=False)
    args = app_main.build_parser().parse_args([])
    assert args.host == "127.0.0.1"  # loopback unless asked
    assert args.port == 7860
    assert args.no_worker is False and args.workers == 1 and args.share is False
    args = app_main.build_parser().parse_args(["--host", "0.0.0.0", "--port", "8000", "--no-worker"])
    assert (args.host, args.port, args.no_worker) == ("0.0.0.0", 8000, True)


def test_help_documents_the_flags_and_environment():
    out = subprocess.run([sys.executable, "-m", "app", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for flag in ("--host", "--port", "--no-worker", "--workers", "--share", "NEAT_AUTH", "NEAT_HOME"):
        assert flag in out.stdout


def test_malformed_auth_stops_before_starting_anything(monkeypatch, capsys, neat_home):
    monkeypatch.setenv("NEAT_AUTH", "nopassword")
    started = []
    monkeypatch.setattr(app_main.WorkerProcess, "start", lambda self: started.append(1))
    assert app_main.main(["--port", "0"]) == 2
    assert "NEAT_AUTH" in capsys.readouterr().err
    assert started == []


def test_worker_process_stops_its_child():
    worker = app_main.WorkerProcess()
    worker.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker.stop(timeout=10)
    assert worker.proc is None


def test_worker_problem_is_reported_only_when_jobs_wait(monkeypatch):
    from app import backend

    worker = app_main.WorkerProcess()
    monkeypatch.setattr(backend, "_worker_problem", None)  # restored after the test
    backend.watch_worker(worker.problem)
    queued = [{"id": 1, "status": "queued"}]
    assert "--no-worker" in backend.worker_notice(queued)
    assert backend.worker_notice([{"id": 1, "status": "succeeded"}]) == ""
    worker.proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    worker.proc.wait(30)
    assert "exited (code 3)" in backend.worker_notice(queued)
    worker.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    assert backend.worker_notice(queued) == ""
    worker.stop()


def test_worker_child_dies_with_a_killed_app(tmp_path):
    """kill -9 of the app must not leave an orphan worker: the child gets SIGTERM."""
    import os
    import signal
    import time

    parent_code = (
        "import subprocess, sys, time\n"
        "from app.__main__ import _terminate_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " preexec_fn=_terminate_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            state = open(f"/proc/{child_pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":  # dead, waiting for its new parent to reap it
            break
        time.sleep(0.1)
    else:
        os.kill(child_pid, signal.SIGKILL)
        raise AssertionError("the child outlived its killed parent")


def test_gpus_are_passed_to_the_worker_and_a_bad_list_is_refused(monkeypatch, capsys, neat_home):
    started = []
    monkeypatch.setattr(app_main.WorkerProcess, "start", lambda self: started.append(1))
    assert app_main.main(["--port", "0", "--gpus", "0,x"]) == 2
    assert "x is not a GPU number" in capsys.readouterr().err
    assert started == []
    calls = []

    class Started:
        pid = 1

    monkeypatch.undo()  # the real WorkerProcess.start, with Popen recording the command
    monkeypatch.setattr(app_main.subprocess, "Popen", lambda cmd, **kw: calls.append(cmd) or Started())
    app_main.WorkerProcess(workers=2, gpus="0,1").start()
    assert calls[0][1:] == ["-m", "jobs.worker", "--workers", "2", "--gpus", "0,1"]


def test_gpus_per_worker_is_passed_on_and_a_group_that_does_not_split_is_refused(
    monkeypatch, capsys, neat_home
):
    started = []
    monkeypatch.setattr(app_main.WorkerProcess, "start", lambda self: started.append(1))
    assert app_main.main(["--port", "0", "--gpus", "0,1,2", "--gpus-per-worker", "2"]) == 2
    assert "do not split into workers of 2" in capsys.readouterr().err
    assert app_main.main(["--port", "0", "--gpus-per-worker", "2"]) == 2
    assert "needs --gpus" in capsys.readouterr().err
    assert started == []
    calls = []

    class Started:
        pid = 1

    monkeypatch.undo()
    monkeypatch.setattr(app_main.subprocess, "Popen", lambda cmd, **kw: calls.append(cmd) or Started())
    app_main.WorkerProcess(workers=1, gpus="all", gpus_per_worker=2).start()
    assert calls[0][-4:] == ["--gpus", "all", "--gpus-per-worker", "2"]
