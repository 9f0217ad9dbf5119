"""What a model is for, what it offers to adapt and what each method costs — from its config alone.

The model is built on the meta device (shapes, no weights), so the UI can list target modules
and show parameter counts live, in milliseconds, even for large models.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import torch
from transformers import AutoConfig

from neat.engine.assets import describe_embedded_models, resolve_model_path
from neat.engine.errors import ModelLoadError
from neat.engine.loading import AUTO_MODEL, head_module_names
from neat.engine.spec import EMBEDDED_MODELS
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


def module_choices(modules: list[tuple[str, int, int]]) -> list[str]:
    """Target-module names to offer: each kind of linear layer once, by its path inside a block.

    `bert.encoder.layer.3.attention.self.query` -> `query` when that is unambiguous, else the
    shortest suffix that still names only that kind (e.g. `attention.output.dense`). Layers
    outside the repeated blocks (pooler, task head) are offered by their full name.
    """
    kinds: list[str] = []
    for name, _, _ in modules:
        m = re.search(r"\.\d+\.(.+)$", name)
        kind = m.group(1) if m else name
        if kind not in kinds:
            kinds.append(kind)
    names = [n for n, _, _ in modules]
    chosen = []
    for kind in kinds:
        parts = kind.split(".")
        wanted = {n for n in names if n == kind or re.search(rf"\.\d+\.{re.escape(kind)}$", n)}
        pick = kind
        for k in range(1, len(parts) + 1):
            suffix = ".".join(parts[-k:])
            matched = {n for n in names if n == suffix or n.endswith("." + suffix)}
            if matched == wanted:
                pick = suffix
                break
        chosen.append(pick)
    skip = ("classifier", "score", "lm_head", "pooler")
    return [c for c in chosen if not set(c.split(".")) & set(skip)]


# Model types by the task they are made for, when a config's architectures do not say.
_TASK_OF_MODEL_TYPE = {
    **dict.fromkeys(
        ("llama", "qwen2", "qwen3", "mistral", "gpt2", "gemma", "gemma2", "phi3", "smollm3"), "causal-lm"
    ),
    **dict.fromkeys(
        ("vit", "deit", "convnext", "resnet", "swin", "beit", "dinov2", "mobilevit", "efficientnet"),
        "image-classification",
    ),
}


def model_task(ref: str) -> str | None:
    """The task a model is made for: embedded models say so; a folder's config.json tells."""
    if ref in EMBEDDED_MODELS:
        return describe_embedded_models()[ref]["task"]
    cfg_path = Path(ref).expanduser() / "config.json"
    if not cfg_path.is_file():
        return None
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    archs = " ".join(cfg.get("architectures") or [])
    model_type = cfg.get("model_type", "")
    if "CausalLM" in archs or "LMHead" in archs:
        return "causal-lm"
    if "ImageClassification" in archs:
        return "image-classification"
    return _TASK_OF_MODEL_TYPE.get(model_type, "classification")
