"""Precision: auto picks bf16 only where the hardware has it; bf16 base + fp32 adapters train and answer."""

from __future__ import annotations

import json
import re

import pytest
import torch

from neat.engine import precision as precisions
from neat.engine.inference import Predictor, load_run_model
from neat.engine.train import run
from neat.tuner import NeatConfig, get_neat_model
from tests.neat.test_inference import make_run
from tests.neat.tiny_models import model_inputs, tiny_bert
from tests.tiny_runs import classification_spec, sentiment_csv, tiny_bert_folder


def test_auto_follows_the_hardware(monkeypatch):
    assert precisions.resolve("fp32", "cpu") == "fp32"
    assert precisions.resolve("bf16", "cpu") == "bf16"
    assert precisions.resolve("fp16", "cuda") == "fp16"
    monkeypatch.setattr(precisions, "cpu_has_native_bf16", lambda: True)
    assert precisions.resolve("auto", "cpu") == "bf16"
    monkeypatch.setattr(precisions, "cpu_has_native_bf16", lambda: False)
    assert precisions.resolve("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert precisions.resolve("auto", "cuda") == "fp32"


def test_cpu_detection_matches_the_kernel_flags():
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read().split()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    assert precisions.cpu_has_native_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_base_dtype_is_low_only_for_a_frozen_base():
    assert precisions.base_dtype("bf16", "neat") is torch.bfloat16
    assert precisions.base_dtype("bf16", "lora") is torch.bfloat16
    assert precisions.base_dtype("bf16", "full") is None
    assert precisions.base_dtype("fp32", "neat") is None


def _neat_pair():
    """(fp32 model, bf16-base model with fp32 adapters and head), identical weights, B non-zero."""
    config = dict(r=4, depth=1, act_fn="relu", scaling=0.7, target_modules=["query", "value"])
    reference = get_neat_model(tiny_bert(), NeatConfig(modules_to_save=["classifier"], **config))
    low = get_neat_model(tiny_bert().to(torch.bfloat16), NeatConfig(modules_to_save=["classifier"], **config))
    with torch.no_grad():
        for param in reference.parameters():
            if param.requires_grad:
                param.normal_(0, 0.3)
    low.load_state_dict(reference.state_dict())
    precisions.trainable_to_fp32(low)
    return reference, low


def test_neat_layer_under_bf16_autocast_matches_fp32_and_trains_in_fp32():
    reference, low = _neat_pair()
    trainable = [p for p in low.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    frozen = [p for p in low.parameters() if not p.requires_grad]
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    inputs = model_inputs("bert")
    labels = torch.tensor([0, 1])[: inputs["input_ids"].shape[0]]

    def step(model, autocast: bool):
        model.zero_grad()
        with precisions.autocast("bf16" if autocast else "fp32", "cpu"):
            out = model(**inputs, labels=labels)
        out.loss.backward()
        return out.logits.float(), {n: p.grad for n, p in model.named_parameters() if p.requires_grad}

    want_logits, want_grads = step(reference, autocast=False)
    got_logits, got_grads = step(low, autocast=True)
    assert ((got_logits - want_logits).norm() / want_logits.norm()).item() < 0.05
    errors = []
    for name, grad in got_grads.items():
        assert grad is not None and grad.dtype == torch.float32, name
        want = want_grads[name]
        # a relu unit may flip with a bf16 W0, so a tiny gradient can differ by more; the
        # direction of every gradient and the typical size of the error stay close
        assert torch.nn.functional.cosine_similarity(grad.flatten(), want.flatten(), dim=0) > 0.97, name
        errors.append(((grad - want).norm() / want.norm().clamp_min(1e-12)).item())
    assert sorted(errors)[len(errors) // 2] < 0.05
    assert any("peanut_A" in n for n in got_grads) and any("peanut_B" in n for n in got_grads)


@pytest.mark.parametrize("method", ["neat", "full"])
def test_summary_records_the_precision_that_ran(tmp_path, method):
    bert = tiny_bert_folder(tmp_path / "bert")
    spec = classification_spec(bert, sentiment_csv(tmp_path / "s.csv"), max_steps=2, eval_steps=2)
    spec.method.name = method
    spec.training.precision = "bf16"
    summary = run(spec, tmp_path / "bf16")
    assert summary["precision"] == json.loads((tmp_path / "bf16" / "summary.json").read_text())["precision"]
    assert summary["precision"] == "bf16"
    spec.training.precision = "fp32"
    assert run(spec, tmp_path / "fp32")["precision"] == "fp32"
    spec.training.precision = "auto"
    assert run(spec, tmp_path / "auto")["precision"] == precisions.resolve("auto", "cpu")


def test_playground_answers_in_bf16_close_to_fp32(tmp_path):
    out = make_run(tmp_path, "classification", "neat")
    spec_path = out / "spec.yaml"
    spec_path.write_text(re.sub(r"precision: \w+", "precision: bf16", spec_path.read_text()))
    predictor = Predictor.load(out, device="cpu")
    assert predictor.precision == "bf16"
    body = [p for n, p in predictor.model.named_parameters() if "query.base_layer" in n]
    assert body and all(p.dtype == torch.bfloat16 for p in body)
    reference = load_run_model(out).eval()
    assert all(p.dtype == torch.float32 for p in reference.parameters())
    text = "a lovely, moving film"
    inputs = predictor.processor(text, return_tensors="pt")
    with torch.inference_mode():
        want = torch.softmax(reference(**inputs).logits[0], -1).tolist()
    got = list(predictor.classify(text).values())
    assert got == pytest.approx(want, abs=0.03)
    assert list(predictor.classify_base(text).values()) != pytest.approx(got, abs=1e-6)


def test_answers_go_to_a_gpu_no_job_trains_on(monkeypatch):
    from neat.engine.inference import choose_device

    if not torch.cuda.is_available():
        assert choose_device({"0"}) == (torch.device("cpu"), None)  # no note: nothing to explain
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert choose_device(set()) == (torch.device("cuda", 0), None)
    assert choose_device({"0"}) == (torch.device("cuda", 1), None)
    device, note = choose_device({"0", "1"})
    assert device == torch.device("cpu") and "every GPU is training" in note
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # the app sees GPUs 2 and 3 as cuda:0 and cuda:1
    assert choose_device({"2"}) == (torch.device("cuda", 1), None)
