"""Smoke test of benchmarks/adapter_speed.py: every case and method runs end to end (--tiny).

No timing assertions: this machine is shared and noisy; the benchmark itself reports ratios.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "adapter_speed.py"


def test_tiny_run_writes_every_method(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(SCRIPT), "--case", "all", "--tiny", "--device", "cpu", "--threads", "1"]
    cmd += ["--repeats", "2", "--warmup", "1", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Case a" in proc.stdout and "stock PEANuT / NEAT" in proc.stdout

    results = json.loads(out.read_text())
    assert results["meta"]["tiny"] is True
    assert set(results["cases"]) == {"a", "b", "c"}
    for key, case in results["cases"].items():
        methods = {"neat", "peanut", "lora", "full"} | ({"lora_lowp"} if key == "c" else set())
        assert set(case["train"]) == methods, key
        for name, train in case["train"].items():
            assert train["step_ms_median"] > 0, (key, name)
            assert len(train["step_ms"]) == 2 and all(t > 0 for t in train["step_ms"]), (key, name)
            assert train["trainable_params"] > 0 and train["peak_mib"] > 0, (key, name)
        assert case["train"]["full"]["trainable_params"] > case["train"]["neat"]["trainable_params"]
        assert case["train_ratios"]["peanut/neat"]["median"] > 0
        inference = case["inference"]
        for name in ("base", "neat_merged", "neat_unmerged"):
            assert inference[name]["ms_median"] > 0, (key, name)
        # the merged model computes what the adapter computes (bf16 case c: looser)
        assert inference["merge_rel_err"] < (3e-2 if key == "c" else 1e-4), key
        assert case["targets"] and all(isinstance(t["met"], bool) for t in case["targets"])
