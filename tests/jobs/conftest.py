"""Fixtures for the job-queue tests: a tiny real model on disk, CSV data, specs, and real
`python -m jobs.worker` processes (SQLite store and queue under a fresh NEAT_HOME)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec
from tests import tiny_runs

REPO = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 0.3  # fast heartbeats so a dead worker is noticed in a few seconds
HEARTBEAT_TIMEOUT_S = 3.0


@pytest.fixture(scope="session")
def sentiment_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_runs.sentiment_csv(tmp_path_factory.mktemp("data") / "sentiment.csv", rows=64)


@pytest.fixture(scope="session")
def make_spec(tiny_model: Path, sentiment_csv: Path) -> Callable[..., RunSpec]:
    """make_spec(name="...", csv=None, **training) -> a tiny classification spec."""

    def make(name: str = "tiny", csv: Path | None = None, **training) -> RunSpec:
        settings = dict(
            max_steps=2, batch_size=4, eval_steps=50, logging_steps=1, warmup_ratio=0.0, max_length=32
        )
        settings.update(training)
        return RunSpec(
            name=name,
            task="classification",
            model=ModelSpec(str(tiny_model)),
            dataset=DataSpec(
                str(csv or sentiment_csv), ColumnMap(text="text", label="label"), validation_fraction=0.25
            ),
            method=MethodSpec("neat", r=2),
            training=TrainingSpec(**settings),
        )

    return make


@pytest.fixture
def jobs_home(neat_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh NEAT_HOME (SQLite store and queue) with fast heartbeats for this test."""
    monkeypatch.setenv("NEAT_HEARTBEAT_S", str(HEARTBEAT_S))
    monkeypatch.delenv("NEAT_SIMULATE_OOM_AT_STEP", raising=False)
    monkeypatch.delenv("NEAT_AUTO_RESUME", raising=False)
    monkeypatch.delenv("NEAT_QUEUE_NAME", raising=False)
    return neat_home


class Workers:
    """Starts `python -m jobs.worker` processes with the test's environment; stops them all."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobs.worker", "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT_S), *args],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown reaps forked children too
        )
        proc.log_path = log.name
        log.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 15) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def dump_stacks(self) -> None:
        """Ask every live worker process (and its children) to print its threads' stacks."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGUSR1)
                except ProcessLookupError:
                    pass
        time.sleep(1)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.log_path}\n" + Path(p.log_path).read_text(errors="replace")[-12000:] for p in self.procs
        )

    def stop_all(self) -> None:
        for proc in self.procs:  # signal them all first: they shut down in parallel
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            self.stop(proc)


@pytest.fixture
def workers(jobs_home: Path, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


def wait_until(predicate: Callable[[], object], timeout: float, what: str, workers: Workers | None = None):
    """Poll `predicate` until it returns something truthy; fail with the worker logs if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = ""
            if workers:
                workers.dump_stacks()
                logs = workers.logs()
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{logs}")
        time.sleep(0.1)


def group_members(pgid: int) -> list[int]:
    """Live processes (zombies excluded) in process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid and pid_alive(int(entry.name)):
                    members.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                pass
    return members


def pid_alive(pid: int) -> bool:
    """True if the process runs (a zombie left to an init that does not reap counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")
