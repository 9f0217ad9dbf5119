"""Per-method defaults: each method at its own numbers, the CLI prints them, NEAT's init is wired."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from neat.engine.attach import attach_method
from neat.engine.defaults import METHOD_DEFAULTS, method_defaults, with_method_defaults
from neat.engine.spec import NEAT_INITS, RunSpec, example_spec
from neat.layer import NeatLinear
from tests.neat.tiny_models import BUILDERS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("task", ["classification", "causal-lm", "image"])
@pytest.mark.parametrize("method", ["neat", "lora", "full"])
def test_example_spec_runs_each_method_at_its_own_defaults(task, method):
    spec = example_spec(task, method).validate()
    expected = method_defaults(spec.task, method)
    assert spec.method.name == method
    for name, value in expected["training"].items():
        assert getattr(spec.training, name) == value, name
    for name, value in expected["method"].items():
        assert getattr(spec.method, name) == value


def test_the_methods_defaults_differ_where_their_update_sizes_do():
    for task, methods in METHOD_DEFAULTS.items():
        rates = {m: methods[m]["training"]["learning_rate"] for m in methods}
        assert rates["full"] < rates["neat"] and rates["full"] < rates["lora"], task
        assert methods["neat"]["method"]["neat_init"] == "calibrated", task


def test_a_fresh_task_head_learns_at_the_same_fast_rate_with_every_method():
    # at 1e-3 a fresh 19-way head barely moved in a short run, with any method (RESULTS.md,
    # "The head's learning rate decides topic")
    for task in ("classification", "image-classification"):
        head = {m: METHOD_DEFAULTS[task][m]["training"]["head_learning_rate"] for m in METHOD_DEFAULTS[task]}
        assert set(head.values()) == {RunSpec().training.head_learning_rate}, task
        assert head["neat"] >= 5e-3, task


def test_every_task_with_defaults_says_what_the_quality_suite_measured_there():
    from neat.engine.defaults import defaults_evidence

    for task in METHOD_DEFAULTS:
        assert "RESULTS.md" in defaults_evidence(task), task
    assert defaults_evidence("chat") == defaults_evidence("causal-lm") != defaults_evidence("image")
    assert defaults_evidence("translation") == ""


def test_with_method_defaults_switches_method_and_leaves_the_original():
    neat = example_spec("classification", "neat")
    lora = with_method_defaults(neat, "lora")
    assert neat.method.name == "neat" and lora.method.name == "lora" and lora.method.depth == 0
    assert lora.dataset == neat.dataset and lora.training.batch_size == neat.training.batch_size
    with pytest.raises(ValueError, match="method"):
        method_defaults("classification", "adapterx")
    with pytest.raises(ValueError, match="task"):
        method_defaults("translation", "neat")


@pytest.mark.parametrize("method", ["neat", "lora", "full"])
def test_cli_prints_each_methods_defaults(method):
    proc = subprocess.run(
        [sys.executable, "-m", "neat.train", "--example", "classification", "--method", method],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    spec = RunSpec.from_dict(yaml.safe_load(proc.stdout))
    assert spec.method.name == method
    for name, value in method_defaults("classification", method)["training"].items():
        assert getattr(spec.training, name) == value, name


def test_neat_init_is_validated_by_name():
    spec = example_spec("classification")
    spec.method.neat_init = "xavier"
    assert "method.neat_init" in {e.field for e in spec.check()}
    assert set(NEAT_INITS) == {"calibrated", "kaiming"}


@pytest.mark.parametrize("neat_init, saved", [("calibrated", "calibrated"), ("kaiming", True)])
def test_attach_method_writes_the_chosen_init(neat_init, saved):
    spec = example_spec("classification")
    spec.method.neat_init = neat_init
    model = attach_method(BUILDERS["bert"](), spec, head_names=["classifier"])
    assert model.peft_config["default"].init_weights == saved
    layer = next(m for m in model.modules() if isinstance(m, NeatLinear))
    h_t = layer._hidden_t("default", layer.get_base_layer().weight)
    calibrated = abs(h_t.pow(2).mean().sqrt().item() * layer.in_features**0.5 - 1.0) < 0.01
    assert calibrated == (neat_init == "calibrated")
