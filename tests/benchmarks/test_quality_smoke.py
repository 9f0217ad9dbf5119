"""Smoke test of benchmarks/quality.py: both cases run end to end on tiny models (--tiny).

No accuracy thresholds: tiny random models learn nothing in a few steps. This checks that every
method and every grid point is trained, evaluated on the held-out rows and reported, and that
NEAT and LoRA get the same adapter parameter budget.
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


def test_tiny_run_reports_every_grid_point(tmp_path: Path) -> None:
    out = tmp_path / "quality.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(SCRIPT), "--tiny", "--threads", "1", "--json", str(out)]
    cmd += ["--work-dir", str(tmp_path / "work")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Case a" in proc.stdout and "Case b" in proc.stdout and "target:" in proc.stdout

    report = subprocess.run(
        [sys.executable, str(SCRIPT), "--report", str(out)], capture_output=True, text=True, timeout=120
    )
    assert report.returncode == 0 and "Case b" in report.stdout, report.stderr[-2000:]

    results = json.loads(out.read_text())
    assert results["meta"]["tiny"] is True
    assert set(results["cases"]) == {"a", "b"}
    for key, case in results["cases"].items():
        cfg = case["config"]
        seeds = cfg["seeds"]
        assert len(seeds) >= 2, key
        # the same search budget for every method
        assert set(cfg["grid"]) == METHODS
        assert len({len(lrs) for lrs in cfg["grid"].values()}) == 1, cfg["grid"]

        budget = case["budget"]
        assert budget["equal"] is True and budget["neat"] == budget["lora"] > 0, budget

        expected = {(m, lr, s) for m in METHODS for lr in cfg["grid"][m] for s in seeds}
        assert {(r["method"], r["lr"], r["seed"]) for r in case["runs"]} == expected, key
        assert {(p["method"], p["lr"]) for p in case["points"]} == {(m, lr) for m, lr, _ in expected}
        for point in case["points"]:
            assert len(point["test"]) == len(seeds) and point["test_std"] is not None
        for method in METHODS:
            assert case["selected"][method]["lr"] in cfg["grid"][method]
        adapter_params = {r["method"]: r["trainable_parameters"] for r in case["runs"]}
        assert adapter_params["neat"] == adapter_params["lora"] < adapter_params["full"], adapter_params

        if key == "a":
            assert case["data"]["test_rows"] == cfg["test_size"]
            for run in case["runs"]:
                assert 0.0 <= run["test_accuracy"] <= 1.0 and 0.0 <= run["val_accuracy"] <= 1.0, run
            target = case["target"]
            assert isinstance(target["met"], bool)
            assert math.isfinite(target["neat_minus_lora_points"])
        else:
            for run in case["runs"]:
                assert math.isfinite(run["test_loss"]) and run["test_loss"] > 0, run
                assert math.isclose(run["test_perplexity"], math.exp(run["test_loss"]), rel_tol=1e-6)
            assert case["base_reference"]["test_loss"] > 0
