"""The adapter zip's model card and labels.json, on real tiny runs loaded back with stock PEFT."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from peft import PeftModel

from neat.engine.export import adapter_zip
from neat.engine.inference import Predictor, seeded_base_model
from neat.engine.model_card import app_version, model_card, public_base
from neat.engine.rundir import RunDir
from tests.neat.test_inference import make_run

SUMMARY = {
    "eval": {"eval_accuracy": 0.8125, "eval_loss": 0.4321},
    "best_metric": 0.84,
    "test": {"test_accuracy": 0.79},
    "global_step": 60,
    "trainable_parameters": 12345,
    "precision": "bf16",
    "train_seconds": 51.3,
    "versions": {"torch": "9.9.9", "transformers": "8.8.8", "peft": "7.7.7"},
}


def test_the_zip_has_a_real_card_and_labels_and_still_loads_with_stock_peft(tmp_path):
    run = make_run(tmp_path, "classification", "neat", r=4, depth=1)
    (run / "summary.json").write_text(json.dumps(SUMMARY))
    with zipfile.ZipFile(adapter_zip(run)) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "unzipped")
    assert {"README.md", "labels.json", "adapter_config.json", "adapter_model.safetensors"} <= names
    card = (tmp_path / "unzipped" / "README.md").read_text()
    assert json.loads((tmp_path / "unzipped" / "labels.json").read_text()) == {
        "labels": ["negative", "positive"]
    }

    # nothing names a path on the machine that trained it
    config = json.loads((tmp_path / "unzipped" / "adapter_config.json").read_text())
    assert str(tmp_path) not in card and str(tmp_path) not in json.dumps(config)
    assert config["base_model_name_or_path"] is None  # a local base: no public id to give
    assert "a local model folder named `base-classification`" in card

    # what was trained and how well
    assert "- **Task:** classification" in card
    assert "negative, positive" in card
    assert "NEAT (PEFT's PEANuT)" in card and "r=4, depth 1" in card
    assert "| final (validation) | eval_accuracy | 0.8125 |" in card
    assert "| best checkpoint (validation) | best metric | 0.84 |" in card
    assert "| test | test_accuracy | 0.79 |" in card
    assert "12,345" in card and "60 steps" in card
    for line in ("- torch 9.9.9", "- transformers 8.8.8", "- peft 7.7.7", f"- neat-studio {app_version()}"):
        assert line in card
    assert "```yaml" in card and "name: classification-neat" in card and "depth: 1" in card
    assert (
        'PeftModel.from_pretrained(base, "adapter")' in card and "AutoModelForSequenceClassification" in card
    )

    # the card's recipe, followed with stock PEFT, gives the app's answers
    labels = json.loads((tmp_path / "unzipped" / "labels.json").read_text())["labels"]
    spec = RunDir(run).read_spec()
    base = seeded_base_model(spec, labels, False)
    stock = PeftModel.from_pretrained(base, str(tmp_path / "unzipped")).eval()
    ours = Predictor.load(run, device="cpu", precision="fp32").model
    inputs = {"input_ids": torch.randint(1000, 2000, (2, 9), generator=torch.Generator().manual_seed(0))}
    with torch.no_grad():
        assert torch.allclose(stock(**inputs).logits, ours(**inputs).logits, atol=1e-5)


@pytest.mark.parametrize(
    "ref,expected",
    [
        ("embedded:minilm", "sentence-transformers/all-MiniLM-L6-v2"),
        ("embedded:smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("embedded:vit-tiny", None),
        ("prajjwal1/bert-tiny", "prajjwal1/bert-tiny"),
        ("/opt/install/models/bert", None),
    ],
)
def test_the_base_is_named_by_a_public_id_never_a_path(ref, expected):
    hub_id, note = public_base(ref)
    assert hub_id == expected
    assert "/opt/install" not in note


def test_a_chat_card_without_summary_says_so_and_shows_generation(tmp_path):
    run = make_run(tmp_path, "causal-lm", "lora", r=4)
    card = model_card(run)
    assert "No metrics were recorded" in card and "AutoModelForCausalLM" in card
    assert "apply_chat_template" in card and "labels.json" not in card.split("## How to load")[1]
