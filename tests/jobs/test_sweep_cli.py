"""`python -m jobs sweep`: the grid is printed, capped, and queued as one sweep of linked jobs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobs import api
from neat.engine.defaults import method_defaults
from tests.jobs.conftest import REPO
from tests.jobs.test_cli import run_cli


def test_a_sweep_of_4_queues_4_linked_jobs(jobs_home: Path, make_spec, tmp_path: Path, capsys):
    spec_file = tmp_path / "run.yaml"
    make_spec("grid").save(spec_file)
    sets = ["--set", "training.learning_rate=1e-3,5e-3", "--set", "method.name=neat,lora"]
    code, out, _ = run_cli(capsys, "sweep", str(spec_file), *sets, "--dry-run")
    assert code == 0 and "4 run(s) in the grid" in out and "nothing was queued" in out
    assert "grid-lr0.001-neat" in out and "grid-lr0.005-lora" in out
    assert api.list_jobs() == []

    out = subprocess.run(  # the real entry point, with the pre-queue check of model and data
        [sys.executable, "-m", "jobs", "sweep", str(spec_file), *sets, "--name", "lr x method"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    jobs = api.list_jobs()
    assert len(jobs) == 4 and {j["status"] for j in jobs} == {"queued"}
    assert len({j["sweep_id"] for j in jobs}) == 1 and jobs[0]["sweep_id"] is not None
    assert f"queued sweep {jobs[0]['sweep_id']} (lr x method)" in out.stdout
    points = sorted((j["spec"]["method"]["name"], j["spec"]["training"]["learning_rate"]) for j in jobs)
    assert points == [("lora", 1e-3), ("lora", 5e-3), ("neat", 1e-3), ("neat", 5e-3)]
    assert {j["kind"] for j in jobs} == {"train"}


def test_a_lora_point_without_a_swept_learning_rate_runs_at_loras_own(
    jobs_home: Path, make_spec, tmp_path: Path, capsys
):
    spec_file = tmp_path / "run.yaml"
    make_spec("twins", learning_rate=2e-3).save(spec_file)
    args = ["sweep", str(spec_file), "--set", "method.name=neat,lora", "--set", "training.seed=42,43"]
    code, out, err = run_cli(capsys, *args, "--no-check")
    assert code == 0, err
    rates = {
        (j["spec"]["method"]["name"], j["spec"]["training"]["seed"]): j["spec"]["training"]["learning_rate"]
        for j in api.list_jobs()
    }
    lora = method_defaults("classification", "lora")["training"]["learning_rate"]
    assert rates == {("neat", 42): 2e-3, ("neat", 43): 2e-3, ("lora", 42): lora, ("lora", 43): lora}


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (["--set", "training.seed=" + ",".join(map(str, range(65)))], "65 runs is more than the 64"),
        (
            ["--set", "training.learning_rate=1e-3,fast"],
            "training.learning_rate: 'fast' (item 2) is not a number",
        ),
        (["--set", "training.lerning_rate=1e-3"], "training.lerning_rate: no such spec field"),
        (["--set", "method.r"], "'method.r' is not FIELD=VALUE"),
    ],
)
def test_sweep_refuses_bad_lists_and_queues_nothing(jobs_home, make_spec, tmp_path, capsys, sets, words):
    spec_file = tmp_path / "run.yaml"
    make_spec("bad").save(spec_file)
    code, _, err = run_cli(capsys, "sweep", str(spec_file), *sets, "--no-check")
    assert code == 1 and words in err
    assert api.list_jobs() == []
