"""Embedded models and built-in datasets: found offline, built once, loadable."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from neat.engine import assets
from neat.engine.errors import DatasetError, ModelLoadError
from neat.engine.spec import EMBEDDED_MODELS


def test_neat_home_follows_env_and_is_created(tmp_path, monkeypatch):
    home = tmp_path / "a" / "home"
    monkeypatch.setenv("NEAT_HOME", str(home))
    assert assets.neat_home() == home
    assert home.is_dir()


def test_minilm_resolves_to_a_folder_with_config():
    folder, extra = assets.resolve_model_path("embedded:minilm")
    assert extra == {}
    assert (Path(folder) / "config.json").is_file()
    assert (Path(folder) / "model.safetensors").is_file()


def test_vit_tiny_is_built_once_and_loads(neat_home):
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    folder, extra = assets.resolve_model_path("embedded:vit-tiny")
    assert Path(folder) == neat_home / "models" / "vit-tiny" and extra == {}
    weights = Path(folder) / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert assets.resolve_model_path("embedded:vit-tiny")[0] == folder
    assert weights.stat().st_mtime_ns == stamp  # not rebuilt
    assert not [p for p in (neat_home / "models").iterdir() if p.name.startswith(".vit-tiny-")]

    model = AutoModelForImageClassification.from_pretrained(
        folder, num_labels=10, ignore_mismatched_sizes=True
    )
    processor = AutoImageProcessor.from_pretrained(folder)
    cfg = model.config
    assert (cfg.image_size, cfg.patch_size, cfg.hidden_size, cfg.num_hidden_layers) == (32, 4, 64, 2)
    assert (cfg.num_attention_heads, cfg.intermediate_size, cfg.num_channels) == (4, 128, 3)
    image = assets.builtin_dataset("digits")[0]["image"]
    pixels = processor(images=image, return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32)
    assert float(pixels.min()) >= -1.0 and float(pixels.max()) <= 1.0  # mean/std 0.5
    with torch.no_grad():
        assert model(pixel_values=pixels).logits.shape == (1, 10)


def test_vit_tiny_weights_are_seeded(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    folders = []
    for name in ("one", "two"):
        monkeypatch.setenv("NEAT_HOME", str(tmp_path / name))
        folders.append(assets.resolve_model_path("embedded:vit-tiny")[0])
    a, b = (load_file(Path(f) / "model.safetensors") for f in folders)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_concurrent_builds_run_once(neat_home):
    calls = []

    def build(out: Path) -> None:
        calls.append(out)
        time.sleep(0.2)  # long enough for the other thread to reach the lock
        (out / "done.txt").write_text("ok")

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(assets._build_once("thing", build))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [neat_home / "models" / "thing"] * 2
    assert (neat_home / "models" / "thing" / "done.txt").read_text() == "ok"


def test_failed_build_leaves_no_folder(neat_home):
    (neat_home / "models" / ".broken-killed").mkdir(parents=True)  # a build killed earlier

    def build(out: Path) -> None:
        (out / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        assets._build_once("broken", build)
    assert [p.name for p in (neat_home / "models").iterdir() if not p.name.endswith(".lock")] == []


def test_local_folder_and_hub_id_pass_through(tmp_path):
    assert assets.resolve_model_path(str(tmp_path)) == (str(tmp_path), {})
    assert assets.resolve_model_path("org/some-model") == ("org/some-model", {})
    assert assets.resolve_model_path("org/repo", gguf_file="m.gguf") == ("org/repo", {"gguf_file": "m.gguf"})


@pytest.mark.parametrize(
    "name, message",
    [
        ("embedded:bert", "unknown embedded model 'embedded:bert'"),
        ("/no/such/model", "model folder not found: /no/such/model"),
        ("./missing-model", "model folder not found"),
        ("~/no-such-neat-model", "model folder not found"),
    ],
)
def test_bad_model_names_are_rejected(name, message):
    with pytest.raises(ModelLoadError, match=message):
        assets.resolve_model_path(name)


def test_rotten_tomatoes_builtin():
    ds = assets.builtin_dataset("rotten_tomatoes")
    assert ds.column_names == ["text", "label"]
    assert Counter(ds["label"][:]) == {"fresh": 7403, "rotten": 5405}
    assert all(isinstance(t, str) and t for t in ds["text"][:100])


def test_chatterbot_builtin():
    ds = assets.builtin_dataset("chatterbot")
    assert ds.column_names == ["prompt", "response", "topic"]
    pairs = list(zip(ds["prompt"][:], ds["response"][:]))
    assert len(pairs) > 800 and len(set(pairs)) == len(pairs)  # distinct pairs only
    row = ds[0]
    assert row["prompt"] and row["response"] and row["topic"] == "ai"
    assert len(set(ds["topic"][:])) == 21


def test_digits_builtin():
    ds = assets.builtin_dataset("digits")
    assert ds.column_names == ["image", "label"] and len(ds) == 1797
    assert sorted(set(ds["label"][:])) == list(range(10))
    import numpy as np
    from sklearn.datasets import load_digits

    image = ds[0]["image"]
    assert image.size == (32, 32) and image.mode == "RGB"
    pixels = np.asarray(image)
    source = load_digits().images[0]
    # Each 8x8 pixel becomes a 4x4 block, its 0..16 grey level scaled to 0..255 in all channels.
    assert (pixels[::4, ::4, 0] == np.rint(source * 255 / 16)).all()
    assert (pixels[..., 0] == pixels[..., 2]).all()
    assert max(ds[i]["image"].getextrema()[0][1] for i in range(20)) == 255


def test_unknown_builtin_dataset():
    with pytest.raises(DatasetError, match="unknown built-in dataset 'nope'"):
        assets.builtin_dataset("nope")


def test_descriptions_cover_the_spec_names():
    models = assets.describe_embedded_models()
    assert set(models) == set(EMBEDDED_MODELS)
    assert all(m["available"] for m in models.values())  # the asset packages are installed here


@pytest.mark.slow
def test_smollm2_converts_once_and_generates(embedded_cache_home):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, extra = assets.resolve_model_path("embedded:smollm2")
    assert Path(folder) == embedded_cache_home / "models" / "smollm2-135m-instruct" and extra == {}
    started = time.perf_counter()
    assert assets.resolve_model_path("embedded:smollm2")[0] == folder
    assert time.perf_counter() - started < 1.0  # cached: no second conversion

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert getattr(model.config, "quantization_config", None) is None
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
