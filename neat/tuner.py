"""NEAT on top of PEFT: config, injection, loading, target modules and parameter accounting.

Everything PEFT already does well (finding target modules, modules_to_save for task heads,
save/load, merge_and_unload, disable_adapter) stays PEFT's; we only swap in NeatLinear
(neat/layer.py) where PEFT would build its stock PEANuT layer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from peft import PeanutConfig, PeftModel, get_peft_model
from peft.tuners.peanut.model import PeanutModel
from peft.utils import TRANSFORMERS_MODELS_TO_PEANUT_TARGET_MODULES_MAPPING
from transformers.pytorch_utils import Conv1D

from neat.layer import create_neat_module


class NeatConfig(PeanutConfig):
    """PEFT's PeanutConfig under the project's name: same fields, same meaning, same file.

    r: width of the adapter MLP; depth: number of residual encoder/decoder (r x r) pairs;
    act_fn: activation (a transformers ACT2FN key); scaling: multiplier on the update;
    target_modules / exclude_modules / layers_to_transform: where to adapt;
    modules_to_save: extra modules trained in full and saved (task heads);
    init_weights: True makes B zero so training starts as an exact no-op (A Kaiming-uniform, as
    PEFT); "calibrated" also zeroes B, and sets A per layer so that act(A W0) has RMS 1/sqrt(in)
    whatever W0's scale (neat/layer.py). The calibration is in A's saved weights; stock PEFT
    reads "calibrated" as a true init_weights, so it loads the adapter with the same outputs.
    Saved adapters are plain PEANuT adapters: stock `PeftModel.from_pretrained` loads them.
    """


# Architectures whose attention projections NEAT adapts by default (query/value as in the
# paper); anything else falls back to PEFT's own table.
DEFAULT_TARGET_MODULES = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "electra": ["query", "value"],
    "vit": ["q_proj", "v_proj"],  # transformers >= 5 names ViT's projections like Llama's
    "deit": ["q_proj", "v_proj"],
    "distilbert": ["q_lin", "v_lin"],
    "llama": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "gemma": ["q_proj", "v_proj"],
    "gemma2": ["q_proj", "v_proj"],
    "phi3": ["qkv_proj"],
    "gpt2": ["c_attn"],
}

_injection_lock = threading.RLock()


@contextmanager
def _neat_layers() -> Iterator[None]:
    """While active, PEFT's PEANuT tuner builds NeatLinear layers instead of its dense ones.

    Scoped (not a global patch) so that stock PEANuT stays available in the same process,
    e.g. for the equivalence tests and the speed benchmark.
    """
    with _injection_lock:
        original = PeanutModel.__dict__["_create_new_module"]
        PeanutModel._create_new_module = staticmethod(create_neat_module)
        try:
            yield
        finally:
            PeanutModel._create_new_module = original


# Query/value projection names across architectures, tried in order on a model's own layers.
_QUERY_VALUE_NAMES = [["query", "value"], ["q_proj", "v_proj"], ["q_lin", "v_lin"], ["c_attn"], ["qkv_proj"]]


def default_target_modules(model_or_config) -> list[str]:
    """The attention query/value projections of a model (or the table's guess for a config)."""
    config = getattr(model_or_config, "config", model_or_config)
    model_type = getattr(config, "model_type", None)
    candidates = [DEFAULT_TARGET_MODULES.get(model_type)]
    candidates.append(TRANSFORMERS_MODELS_TO_PEANUT_TARGET_MODULES_MAPPING.get(model_type))
    if isinstance(model_or_config, torch.nn.Module):
        leaf_names = {name.rsplit(".", 1)[-1] for name, _, _ in list_linear_modules(model_or_config)}
        for group in [*candidates, *_QUERY_VALUE_NAMES]:
            if group and set(group) <= leaf_names:
                return list(group)
    elif candidates[0] or candidates[1]:
        return list(candidates[0] or candidates[1])
    raise ValueError(
        f"no default target modules for model type {model_type!r}; set method.target_modules "
        "to some of the model's linear layers (see list_linear_modules)."
    )


def get_neat_model(model: torch.nn.Module, config: PeanutConfig, adapter_name: str = "default") -> PeftModel:
    """Wrap `model` with a trainable NEAT adapter (factored layers), as a PEFT model."""
    if config.target_modules is None:
        config.target_modules = set(default_target_modules(model))
    with _neat_layers():
        return get_peft_model(model, config, adapter_name=adapter_name)


def load_neat_model(base_model: torch.nn.Module, adapter_dir, is_trainable: bool = False) -> PeftModel:
    """Load a saved PEANuT adapter (ours or stock PEFT's) onto `base_model` with NEAT layers."""
    with _neat_layers():
        return PeftModel.from_pretrained(base_model, str(adapter_dir), is_trainable=is_trainable)


# -- what can be adapted, and what it costs -------------------------------------------------
def list_linear_modules(model: torch.nn.Module) -> list[tuple[str, int, int]]:
    """(qualified name, in_features, out_features) of every Linear/Conv1D in `model`."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            found.append((name, module.in_features, module.out_features))
        elif isinstance(module, Conv1D):
            fan_in, fan_out = module.weight.shape
            found.append((name, fan_in, fan_out))
    return found


def _matches(name: str, targets) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def count_adapter_params(
    modules: list[tuple[str, int, int]],
    target_modules,
    r: int,
    depth: int = 0,
) -> dict[str, int]:
    """Trainable adapter parameters of NEAT and of LoRA at the same rank on the same modules.

    NEAT per module: A (r x out) + B (out x r) + depth pairs of (r x r); LoRA: r x (in + out).
    """
    chosen = [(n, i, o) for n, i, o in modules if _matches(n, target_modules)]
    neat = sum(2 * r * o + 2 * depth * r * r for _, _, o in chosen)
    lora = sum(r * (i + o) for _, i, o in chosen)
    return {"neat": neat, "lora": lora, "modules": len(chosen)}
