"""Attach the chosen fine-tuning method (NEAT, LoRA or full) and build optimiser groups."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model

from neat.engine.errors import FieldError, SpecError
from neat.layer import CALIBRATED
from neat.tuner import NeatConfig, default_target_modules, get_neat_model, list_linear_modules

PEFT_TASK_TYPES = {"classification": "SEQ_CLS", "causal-lm": "CAUSAL_LM", "image-classification": None}


def attach_method(model: torch.nn.Module, spec, head_names: list[str]) -> torch.nn.Module:
    m = spec.method
    if m.name == "full":
        model.requires_grad_(True)
        return model
    try:
        targets = m.target_modules or default_target_modules(model)
    except ValueError as exc:
        raise SpecError([FieldError("method.target_modules", str(exc))]) from exc
    common = dict(
        r=m.r,
        target_modules=targets,
        layers_to_transform=m.layers_to_transform,
        modules_to_save=head_names or None,
        task_type=PEFT_TASK_TYPES[spec.task],
    )
    try:
        if m.name == "neat":
            init = CALIBRATED if m.neat_init == "calibrated" else True  # True: PEFT's Kaiming A, zero B
            config = NeatConfig(
                depth=m.depth, act_fn=m.act_fn, scaling=m.scaling, init_weights=init, **common
            )
            return get_neat_model(model, config)
        config = LoraConfig(lora_alpha=m.lora_alpha or m.r, lora_dropout=m.lora_dropout, **common)
        return get_peft_model(model, config)
    except ValueError as exc:
        names = sorted({name.rsplit(".", 1)[-1] for name, _, _ in list_linear_modules(model)})
        message = f"{str(exc).splitlines()[0]} The model's linear layers are named: {', '.join(names)}"
        raise SpecError([FieldError("method.target_modules", message)]) from exc


def _is_head(name: str, spec) -> bool:
    if "modules_to_save" in name:
        return True
    # Full fine-tuning has no modules_to_save: the head is the classifier/score module.
    return spec.method.name == "full" and name.split(".")[0] in ("classifier", "score")


def parameter_groups(model: torch.nn.Module, spec) -> list[dict]:
    """Adapter (or body) and task head get their own learning rates, and so does NEAT's A when
    method.neat_a_lr_scale says so; no decay on biases/norms."""
    t = spec.training
    a_scale = spec.method.neat_a_lr_scale if spec.method.name == "neat" else 1.0
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim < 2 or "norm" in name.lower()
        role = "head" if _is_head(name, spec) else "A" if ".peanut_A." in name and a_scale != 1.0 else "body"
        groups.setdefault((role, no_decay), []).append(param)
    lr = {"head": t.head_learning_rate, "A": t.learning_rate * a_scale, "body": t.learning_rate}
    return [
        {"params": params, "lr": lr[role], "weight_decay": 0.0 if no_decay else t.weight_decay}
        for (role, no_decay), params in groups.items()
    ]
