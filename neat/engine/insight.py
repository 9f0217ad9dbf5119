"""What the fine-tuning changed: per-module norms and singular values of the learned update dW.

NEAT: dW^T = scaling * f(W0^T) B^T (neat/layer.py); LoRA: dW = scaling * B A; full fine-tuning:
dW = W_finetuned - W_base on the method's target modules. Both adapters have rank <= r through
their output projection B; the spectrum shows how evenly the update spreads over those
directions (and, for full fine-tuning, how low-rank the unconstrained update turned out).

The effective rank is exp(entropy of the normalised singular values) (Roy & Vetterli, 2007):
1 for a rank-one update, k for k equal directions, 0 for an all-zero update.

The W0 alignment is the share of the update's energy that lies in the span of W0's own top-k
singular directions (left and right, k = ALIGNMENT_K): ||U_k U_k^T dW V_k V_k^T||^2 / ||dW||^2.
A random update scores about k^2 / (out * in); an update that re-weights the pretrained
weight's dominant directions scores near 1. NEAT's dW is a function of W0, LoRA's is not,
so this is where the two can differ even at the same rank.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import torch

from neat.engine.inference import load_run_model, seeded_base_model
from neat.engine.rundir import RunDir

# `.layer.3.` (BERT, ViT), `.layers.3.` (Llama), `.h.3.` (GPT-2), `.blocks.3.` (many vision models)
_LAYER_INDEX = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)(?:\.|$)")
_PEFT_PREFIX = "base_model.model."
ALIGNMENT_K = 8


def layer_index(module_name: str) -> int | None:
    """The transformer block a module sits in, parsed from its qualified name (None if none)."""
    match = _LAYER_INDEX.search(module_name)
    return int(match.group(1)) if match else None


def w0_alignment(delta: torch.Tensor, w0: torch.Tensor, k: int = ALIGNMENT_K) -> float:
    """Share of ||dW||^2 inside the span of W0's top-k left and right singular vectors."""
    total = delta.pow(2).sum()
    if total <= 0:
        return 0.0
    u, _, vh = torch.linalg.svd(w0.float(), full_matrices=False)
    u_k, v_k = u[:, :k], vh[:k].t()
    inside = u_k.t() @ delta @ v_k  # coordinates of dW in the top-k x top-k block
    return (inside.pow(2).sum() / total).item()


def describe_delta(
    module: str,
    delta: torch.Tensor,
    shape: tuple[int, int],
    max_singular_values: int = 64,
    w0: torch.Tensor | None = None,
) -> dict:
    """Norm, leading singular values, effective rank (and W0 alignment) of one update matrix.

    `delta` and `w0` are in (out, in) layout.
    """
    delta = delta.detach().float()
    singular = torch.linalg.svdvals(delta)  # descending
    top = singular[0].item() if singular.numel() else 0.0
    tolerance = top * max(delta.shape) * torch.finfo(torch.float32).eps
    return {
        "module": module,
        "layer": layer_index(module),
        "shape": [int(shape[0]), int(shape[1])],  # (out_features, in_features)
        "fro_norm": torch.linalg.matrix_norm(delta).item(),
        "singular_values": singular[:max_singular_values].tolist(),
        "effective_rank": effective_rank(singular),
        "numerical_rank": int((singular > tolerance).sum().item()) if top > 0 else 0,
        "w0_alignment": w0_alignment(delta, w0) if w0 is not None else None,
    }


def effective_rank(singular_values: torch.Tensor) -> float:
    total = singular_values.sum()
    if total <= 0:
        return 0.0
    p = singular_values / total
    p = p[p > 0]
    return math.exp(-(p * p.log()).sum().item())


def _out_in(module: torch.nn.Module, weight: torch.Tensor) -> torch.Tensor:
    """A weight in (out, in) layout (GPT-2's Conv1D stores (in, out))."""
    from transformers.pytorch_utils import Conv1D

    return weight.t() if isinstance(module, Conv1D) else weight


def _adapter_deltas(
    model: torch.nn.Module,
) -> Iterator[tuple[str, torch.Tensor, tuple[int, int], torch.Tensor]]:
    """(name, dW, (out, in), W0) for every NEAT/PEANuT or LoRA layer of a PEFT model."""
    from peft.tuners.lora import LoraLayer
    from peft.tuners.peanut.layer import PeanutLayer

    for name, module in model.named_modules():
        if isinstance(module, PeanutLayer):
            adapters = list(module.peanut_A.keys())
        elif isinstance(module, LoraLayer):
            adapters = list(module.lora_A.keys())
        else:
            continue
        for adapter in adapters:
            label = name.removeprefix(_PEFT_PREFIX) + ("" if adapter == "default" else f" [{adapter}]")
            base = module.get_base_layer()
            delta = _out_in(base, module.get_delta_weight(adapter))
            yield label, delta, (module.out_features, module.in_features), _out_in(base, base.weight)


def _matches(name: str, targets) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def _full_deltas(output_dir: Path, spec) -> Iterator[tuple[str, torch.Tensor, tuple[int, int], torch.Tensor]]:
    """W_finetuned - W_base on the target modules (the spec's, else the query/value defaults)."""
    from transformers.pytorch_utils import Conv1D

    from neat.tuner import default_target_modules

    tuned = load_run_model(output_dir, spec)
    labels, regression = RunDir(output_dir).read_labels(spec.task)
    base_modules = dict(seeded_base_model(spec, labels, regression).named_modules())
    targets = spec.method.target_modules or default_target_modules(tuned)
    for name, module in tuned.named_modules():
        if not isinstance(module, (torch.nn.Linear, Conv1D)) or not _matches(name, targets):
            continue
        base = base_modules.get(name)
        if base is None or base.weight.shape != module.weight.shape:
            continue
        delta = _out_in(module, module.weight - base.weight)
        yield name, delta, tuple(delta.shape), _out_in(base, base.weight)


def delta_spectrum(output_dir: str | Path, max_singular_values: int = 64, predictor=None) -> list[dict]:
    """One dict per adapted module: module, layer, shape, fro_norm, singular_values, effective_rank.

    `predictor`: an already loaded neat.engine.inference.Predictor of the same run, to reuse its
    model when it holds the base in fp32 (the spectrum is always that of the fp32 computation).
    """
    if predictor is not None and getattr(predictor, "precision", "fp32") != "fp32":
        predictor = None
    out = Path(output_dir)
    spec = predictor.spec if predictor is not None else RunDir(out).read_spec()
    with torch.no_grad():
        if spec.method.name == "full":
            deltas = _full_deltas(out, spec)
        else:
            model = predictor.model if predictor is not None else load_run_model(out, spec)
            deltas = _adapter_deltas(model)
        return [
            describe_delta(name, delta, shape, max_singular_values, w0=w0)
            for name, delta, shape, w0 in deltas
        ]
