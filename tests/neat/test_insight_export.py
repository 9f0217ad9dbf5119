"""Insight (spectra of the learned dW) and exports (adapter zip, merged model) on real tiny runs."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import (
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from neat.engine.errors import ModelLoadError
from neat.engine.export import adapter_zip, merged_dir, merged_zip
from neat.engine.inference import Predictor, seeded_base_model
from neat.engine.insight import delta_spectrum, layer_index
from neat.engine.rundir import RunDir
from neat.layer import NeatLinear
from tests.neat.test_inference import make_run

AUTO = {
    "classification": AutoModelForSequenceClassification,
    "causal-lm": AutoModelForCausalLM,
    "image-classification": AutoModelForImageClassification,
}
R = 4


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cache: dict = {}

    def get(task="classification", method="neat", **kwargs) -> Path:
        key = (task, method, tuple(sorted(kwargs.items())))
        if key not in cache:
            sub = root / str(len(cache))
            sub.mkdir()
            cache[key] = make_run(sub, task, method, r=R, **kwargs)
        return cache[key]

    return get


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def model_inputs(task: str) -> dict:
    g = torch.Generator().manual_seed(0)
    if task == "image-classification":
        return {"pixel_values": torch.randn(2, 3, 16, 16, generator=g)}
    return {"input_ids": torch.randint(1000, 2000, (2, 9), generator=g)}


# -- insight -----------------------------------------------------------------------------------
def _check_entry(entry: dict) -> None:
    values = entry["singular_values"]
    assert all(v >= 0 for v in values)
    assert values == sorted(values, reverse=True)
    assert entry["fro_norm"] == pytest.approx(sum(v * v for v in values) ** 0.5, rel=1e-4)


@pytest.mark.parametrize("depth", [0, 1])
def test_neat_spectrum_one_entry_per_adapted_module(runs, depth):
    run = runs("classification", "neat", depth=depth)
    spectrum = delta_spectrum(run)
    names = [e["module"] for e in spectrum]
    assert len(names) == 4  # query and value in each of the 2 layers
    assert sorted((e["layer"], n.rsplit(".", 1)[-1]) for e, n in zip(spectrum, names)) == [
        (0, "query"),
        (0, "value"),
        (1, "query"),
        (1, "value"),
    ]
    assert all(n.startswith("bert.encoder.layer.") for n in names)
    assert delta_spectrum(run, predictor=Predictor.load(run, precision="bf16")) == spectrum  # not reused
    predictor = Predictor.load(run, precision="fp32")
    modules = {n: m for n, m in predictor.model.named_modules() if isinstance(m, NeatLinear)}
    assert len(modules) == 4
    for entry in spectrum:
        assert entry["shape"] == [32, 32]
        assert len(entry["singular_values"]) == 32
        _check_entry(entry)
        assert entry["fro_norm"] > 0
        # dW = act(W0^T A^T ...) B^T has rank <= r through B, whatever the depth.
        assert entry["numerical_rank"] <= R and 1.0 <= entry["effective_rank"] <= R + 1e-6
        assert 0.0 <= entry["w0_alignment"] <= 1.0 + 1e-6
        delta = modules[f"base_model.model.{entry['module']}"].get_delta_weight("default")
        assert entry["fro_norm"] == pytest.approx(delta.norm().item(), rel=1e-5)
    assert delta_spectrum(run, predictor=predictor) == spectrum
    assert [len(e["singular_values"]) for e in delta_spectrum(run, max_singular_values=3)] == [3] * 4


def test_lora_spectrum_rank_is_at_most_r(runs):
    spectrum = delta_spectrum(runs("classification", "lora"))
    assert len(spectrum) == 4
    for entry in spectrum:
        _check_entry(entry)
        values = torch.tensor(entry["singular_values"])
        assert int((values > values[0] * 1e-5).sum()) <= R
        assert entry["numerical_rank"] <= R
        assert 0.0 < entry["effective_rank"] <= R + 1e-6
        assert 0.0 <= entry["w0_alignment"] <= 1.0 + 1e-6


def test_full_fine_tuning_spectrum_is_the_weight_difference(runs):
    spectrum = delta_spectrum(runs("classification", "full"))
    assert len(spectrum) == 4 and all(e["fro_norm"] > 0 for e in spectrum)
    for entry in spectrum:
        _check_entry(entry)
        assert entry["numerical_rank"] == 32  # random noise: a full-rank update


def test_zero_adapter_has_an_empty_spectrum(runs):
    spectrum = delta_spectrum(runs("classification", "neat", zero_adapter=True))
    assert len(spectrum) == 4
    assert all(e["fro_norm"] == 0 and e["effective_rank"] == 0 and e["numerical_rank"] == 0 for e in spectrum)


def test_chat_spectrum_parses_llama_layers(runs):
    spectrum = delta_spectrum(runs("causal-lm", "neat"))
    assert sorted({e["layer"] for e in spectrum}) == [0, 1]
    q = next(e for e in spectrum if e["module"].endswith("q_proj"))
    v = next(e for e in spectrum if e["module"].endswith("v_proj"))
    assert q["shape"] == [32, 32] and v["shape"] == [16, 32]  # 2 KV heads of 8: v is (16 x 32)


def test_layer_index():
    assert layer_index("bert.encoder.layer.3.attention.self.query") == 3
    assert layer_index("model.layers.12.self_attn.q_proj") == 12
    assert layer_index("transformer.h.5.attn.c_attn") == 5
    assert layer_index("vit.encoder.blocks.0.attn.qkv") == 0
    assert layer_index("classifier") is None
    assert layer_index("model.header.3.x") is None


# -- export: adapter zip -----------------------------------------------------------------------
def test_adapter_zip_loads_with_stock_peft(runs, tmp_path):
    run = runs("classification", "neat", depth=1)
    path = adapter_zip(run)
    assert path == run / "exports" / "adapter.zip"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "unzipped")
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json"} <= names

    spec = RunDir(run).read_spec()
    base = seeded_base_model(spec, ["negative", "positive"], False)
    stock = PeftModel.from_pretrained(base, str(tmp_path / "unzipped")).eval()  # PEFT's own PEANuT layers
    assert not any(isinstance(m, NeatLinear) for m in stock.modules())
    ours = Predictor.load(run, device="cpu", precision="fp32").model
    inputs = model_inputs("classification")
    with torch.no_grad():
        assert rel_err(stock(**inputs).logits, ours(**inputs).logits) <= 1e-5
    assert AutoTokenizer.from_pretrained(tmp_path / "unzipped")("a good film")["input_ids"]


def test_adapter_zip_is_rebuilt_only_when_the_adapter_changes(tmp_path):
    run = make_run(tmp_path, "classification", "lora", r=R)  # its own run: the test changes it
    first = adapter_zip(run)
    stamp = first.stat().st_mtime_ns
    assert adapter_zip(run).stat().st_mtime_ns == stamp  # reused
    later = stamp / 1e9 + 10
    os.utime(run / "adapter" / "adapter_config.json", (later, later))  # e.g. a resumed run saved anew
    assert adapter_zip(run).stat().st_mtime_ns != stamp
    assert not [p for p in (run / "exports").iterdir() if p.name.startswith(".")]  # no temp files left


# -- export: merged model ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "task,method",
    [
        ("classification", "neat"),
        ("classification", "lora"),
        ("causal-lm", "neat"),
        ("image-classification", "neat"),
        ("classification", "full"),
    ],
)
def test_merged_model_reloads_with_plain_transformers(runs, task, method):
    run = runs(task, method, depth=1) if method == "neat" else runs(task, method)
    folder = merged_dir(run)
    assert folder == run / "merged"
    assert not (folder / "adapter_config.json").exists()
    merged = AUTO[task].from_pretrained(folder).eval()
    adapted = Predictor.load(run, device="cpu", precision="fp32").model
    inputs = model_inputs(task)
    with torch.no_grad():
        assert rel_err(merged(**inputs).logits, adapted(**inputs).logits) <= 1e-5
    keys = load_file(folder / "model.safetensors").keys()
    assert not [k for k in keys if "peanut" in k or "lora" in k or "modules_to_save" in k]
    if task == "image-classification":
        assert AutoImageProcessor.from_pretrained(folder) is not None
        assert merged.config.id2label == {0: "cat", 1: "dog", 2: "bird"}
    else:
        assert AutoTokenizer.from_pretrained(folder)("hello")["input_ids"]
    if task == "classification":
        assert merged.config.id2label == {0: "negative", 1: "positive"}
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert merged_dir(run) == folder and (folder / "config.json").stat().st_mtime_ns == stamp  # reused


def test_merged_weights_minus_base_equal_the_spectrum(runs):
    run = runs("classification", "neat", depth=1)
    spectrum = delta_spectrum(run)
    merged = load_file(merged_dir(run) / "model.safetensors")
    base = load_file(Path(RunDir(run).read_spec().model.name_or_path) / "model.safetensors")
    for entry in spectrum:
        key = f"{entry['module']}.weight"
        assert (merged[key] - base[key]).norm().item() == pytest.approx(entry["fro_norm"], rel=1e-4)


def test_merged_zip_and_a_stale_merge_is_rebuilt(tmp_path):
    run = make_run(tmp_path, "classification", "lora", r=R)
    path = merged_zip(run)
    assert path == run / "exports" / "merged.zip"
    with zipfile.ZipFile(path) as archive:
        assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= set(archive.namelist())
    stamp, zip_stamp = (run / "merged" / "config.json").stat().st_mtime_ns, path.stat().st_mtime_ns
    later = max(stamp, zip_stamp) / 1e9 + 10
    os.utime(run / "adapter" / "adapter_model.safetensors", (later, later))  # the adapter changed
    assert merged_zip(run).stat().st_mtime_ns != zip_stamp
    assert (run / "merged" / "config.json").stat().st_mtime_ns != stamp  # merged anew
    assert not [p for p in run.iterdir() if p.name.startswith(".merged")]  # no temp folders left


def test_exports_of_an_unfinished_run_are_user_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="adapter/ is missing"):
        adapter_zip(tmp_path)
    with pytest.raises(ModelLoadError, match="adapter/ is missing"):
        merged_zip(tmp_path)


def test_w0_alignment_separates_updates_along_w0_from_random_ones():
    from neat.engine.insight import w0_alignment

    torch.manual_seed(0)
    w0 = torch.randn(64, 48)
    u, s, vh = torch.linalg.svd(w0, full_matrices=False)
    along = u[:, :3] @ torch.diag(s[:3]) @ vh[:3]  # re-weights W0's top directions only
    assert w0_alignment(along, w0, k=8) == pytest.approx(1.0, abs=1e-5)
    assert w0_alignment(0.5 * w0, w0, k=48) == pytest.approx(1.0, abs=1e-5)
    random = torch.randn(64, 48)
    assert w0_alignment(random, w0, k=8) < 0.1  # about 8*8 / (64*48) = 0.02 expected
    assert w0_alignment(torch.zeros(64, 48), w0) == 0.0
