"""What a model offers to adapt and what each method costs — from its config alone.

The model is built on the meta device (shapes, no weights), so the UI can list target modules
and show parameter counts live, in milliseconds, even for large models.
"""

from __future__ import annotations

import functools

import torch
from transformers import AutoConfig

from neat.engine.assets import resolve_model_path
from neat.engine.errors import ModelLoadError
from neat.engine.loading import AUTO_MODEL, head_module_names
from neat.tuner import count_adapter_params, default_target_modules, list_linear_modules


@functools.lru_cache(maxsize=16)
def meta_model(
    name_or_path: str, task: str = "classification", num_labels: int = 2, trust_remote_code: bool = False
):
    """The task model for `name_or_path` on the meta device."""
    path, extra = resolve_model_path(name_or_path)
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, **extra)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"could not read the model config of {name_or_path}: {exc}") from exc
    if task != "causal-lm":
        config.num_labels = num_labels
    with torch.device("meta"):
        return AUTO_MODEL[task].from_config(config, trust_remote_code=trust_remote_code)


def describe_linear_modules(
    name_or_path: str, task: str = "classification", trust_remote_code: bool = False
) -> list[tuple[str, int, int]]:
    """(name, in, out) of the linear layers an adapter may target (the task head excluded)."""
    model = meta_model(name_or_path, task, 2, trust_remote_code)
    heads = head_module_names(model)
    return [
        m for m in list_linear_modules(model) if not any(m[0] == h or m[0].startswith(h + ".") for h in heads)
    ]


def default_targets(
    name_or_path: str, task: str = "classification", trust_remote_code: bool = False
) -> list[str]:
    """The model's own query/value projection names (its default NEAT/LoRA targets)."""
    return default_target_modules(meta_model(name_or_path, task, 2, trust_remote_code))


def param_budget(
    name_or_path: str, task: str, method_spec, num_labels: int = 2, trust_remote_code: bool = False
) -> dict[str, int]:
    """Trainable parameters: NEAT and LoRA adapters at the spec's rank, full FT, the task head."""
    model = meta_model(name_or_path, task, num_labels, trust_remote_code)
    head = sum(p.numel() for name in head_module_names(model) for p in getattr(model, name).parameters())
    targets = method_spec.target_modules or default_target_modules(model)
    modules = describe_linear_modules(name_or_path, task, trust_remote_code)
    counts = count_adapter_params(modules, targets, method_spec.r, method_spec.depth)
    return {**counts, "full": sum(p.numel() for p in model.parameters()), "head": head}
