"""Smoke test of benchmarks/quality.py: one task per engine task runs end to end on tiny models.

No accuracy thresholds: tiny random models learn nothing in a few steps. This checks that every
method and every grid point is trained, tested on the held-out rows and reported, that NEAT and
LoRA get the same adapter parameter budget, and that a rerun reads every run from the cache.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "quality.py"
METHODS = {"neat", "lora", "full"}
TASKS = "sentiment,chat,digits"


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(SCRIPT), *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)


def test_tiny_suite_reports_every_grid_point_and_caches(tmp_path: Path) -> None:
    out = tmp_path / "quality.json"
    args = ["--tiny", "--tasks", TASKS, "--threads", "1", "--work-dir", str(tmp_path / "work")]
    proc = _run([*args, "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Suite targets" in proc.stdout and "Task digits" in proc.stdout

    results = json.loads(out.read_text())
    assert results["meta"]["tiny"] is True
    assert set(results["tasks"]) == set(TASKS.split(","))
    for key, task in results["tasks"].items():
        cfg = task["config"]
        assert set(cfg["grid"]) == METHODS
        budget = task["budget"]
        assert budget["equal"] is True and budget["neat"] == budget["lora"] > 0, budget
        seeds = {0, 1}
        expected = {(m, lr, s) for m in METHODS for lr in cfg["grid"][m] for s in seeds}
        assert {(r["method"], r["lr"], r["seed"]) for r in task["runs"]} == expected, key
        assert task["complete"] is True
        assert {(p["method"], p["lr"]) for p in task["points"]} == {(m, lr) for m, lr, _ in expected}
        for method in METHODS:
            assert task["selected"][method]["lr"] in cfg["grid"][method]
        neat_runs = [r for r in task["runs"] if r["method"] == "neat"]
        assert all(r["neat_init"] == "calibrated" for r in neat_runs)  # the method's default init
        test_rows = task["data"]["test_rows"]
        assert test_rows == cfg["test_size"]
        for run in task["runs"]:
            if cfg["metric"] == "loss":
                assert math.isfinite(run["test"]) and run["test"] > 0, run
            else:
                assert 0.0 <= run["test"] <= 1.0 and 0.0 <= run["val"] <= 1.0, run
    assert set(results["verdict"]["per_task"]) == set(TASKS.split(","))

    again = _run([*args, "--report-cache"], tmp_path)  # the cache answers without training
    assert again.returncode == 0, again.stderr[-2000:]
    assert "PARTIAL" not in again.stdout and "Task chat" in again.stdout
