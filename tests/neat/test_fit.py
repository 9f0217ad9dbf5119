"""The fit check: memory and time from the model's config, warnings, and the OOM fallback's halving."""

from __future__ import annotations

import pytest

from neat.engine import fit
from neat.engine.spec import MethodSpec, ModelSpec, RunSpec, TrainingSpec


def _spec(method="neat", batch=16, length=128, precision="fp32", **training) -> RunSpec:
    return RunSpec(
        model=ModelSpec("embedded:minilm"),
        method=MethodSpec(method, r=8, target_modules=["query", "value"]),
        training=TrainingSpec(batch_size=batch, max_length=length, precision=precision, **training),
    )


def test_memory_grows_with_batch_length_and_full_fine_tuning():
    small = fit.estimate(_spec(batch=8, length=64), device="cpu")
    assert small.gpu_bytes is None and small.ram_bytes > fit.HOST_BASELINE_BYTES
    assert fit.estimate(_spec(batch=32, length=64), device="cpu").ram_bytes > small.ram_bytes
    assert fit.estimate(_spec(batch=8, length=256), device="cpu").ram_bytes > small.ram_bytes
    assert fit.estimate(_spec("full", batch=8, length=64), device="cpu").ram_bytes > small.ram_bytes
    # a bf16 frozen base holds half the weight bytes (22.7M params: about 45 MB less)
    low = fit.estimate(_spec(batch=8, length=64, precision="bf16"), device="cpu")
    assert small.ram_bytes - low.ram_bytes > 40e6
    # padding follows the longest row: short data needs less than max_length says
    short = fit.estimate(_spec(batch=8, length=256), device="cpu", token_lengths={"p99": 40, "max": 64})
    assert short.ram_bytes == pytest.approx(small.ram_bytes, rel=0.01)


def test_sentence_time_and_warnings(monkeypatch):
    est = fit.estimate(_spec(max_steps=60), device="cpu")
    assert est.minutes is not None and est.minutes > 0
    assert est.sentence().startswith("needs about ") and "GiB of RAM" in est.sentence()
    assert "on this machine (cpu, fp32)" in est.sentence()
    assert fit.estimate(_spec(), device="cpu").minutes is None  # epochs, rows unknown
    assert fit.estimate(_spec(), device="cpu", train_rows=1600).minutes > 0
    monkeypatch.setattr(fit, "_free_memory", lambda device: (None, 10 * 2**20))
    warnings = fit.estimate(_spec(), device="cpu").warnings()
    assert len(warnings) == 1 and "more RAM than is free (0.0 GiB)" in warnings[0]
    gpu = fit.estimate(_spec(), device="cuda")
    gpu = fit.FitEstimate(gpu.gpu_bytes, gpu.ram_bytes, None, "bf16", "cuda", 2**20, 2**40)
    assert "GiB of GPU memory / " in gpu.sentence()
    assert any("more GPU memory than is free" in w for w in gpu.warnings())


def test_data_parallel_spreads_an_epoch_over_the_devices_and_memory_stays_per_device(monkeypatch):
    one = fit.estimate(_spec(), device="cpu", train_rows=1600)
    two = fit.estimate(_spec(num_devices=2), device="cpu", train_rows=1600)
    # 1,600 rows at batch 16: 100 steps on one device, 50 on each of two
    assert two.minutes == pytest.approx(one.minutes / 2)
    assert (two.ram_bytes, two.gpu_bytes) == (one.ram_bytes, one.gpu_bytes)
    assert "GiB of RAM per device (2 devices)" in two.sentence()
    assert "on 2 devices like this machine's (cpu, fp32)" in two.sentence()
    assert "per device" not in one.sentence() and "on this machine (cpu, fp32)" in one.sentence()
    # max steps are every device's steps: as long on two devices as on one
    steps_one = fit.estimate(_spec(max_steps=60), device="cpu").minutes
    assert fit.estimate(_spec(max_steps=60, num_devices=2), device="cpu").minutes == pytest.approx(steps_one)
    # each process holds its own copy in RAM: two of them need twice what one needs
    monkeypatch.setattr(fit, "_free_memory", lambda device: (None, int(one.ram_bytes * 1.5)))
    assert fit.estimate(_spec(), device="cpu").warnings() == []
    [warning] = fit.estimate(_spec(num_devices=2), device="cpu").warnings()
    assert "more RAM than is free (2 processes)" in warning


def test_halved_micro_batch_keeps_the_effective_batch():
    half = fit.halved_micro_batch(_spec(batch=16, grad_accum=2))
    assert (half.training.batch_size, half.training.grad_accum) == (8, 4)
    assert fit.halved_micro_batch(_spec(batch=1)) is None


def test_cli_check_prints_the_fit_sentence(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from tests.tiny_runs import classification_spec, sentiment_csv, tiny_bert_folder

    spec = classification_spec(tiny_bert_folder(tmp_path / "bert"), sentiment_csv(tmp_path / "s.csv"))
    spec.save(tmp_path / "run.yaml")
    out = subprocess.run(
        [sys.executable, "-m", "neat.train", str(tmp_path / "run.yaml"), "--check"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "fit check: needs about " in out.stdout and "on this machine" in out.stdout
