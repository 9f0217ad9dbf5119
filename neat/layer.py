"""The NEAT math: a PEANuT layer whose forward never builds the dense update.

For a frozen linear layer y = W0 x + b (PyTorch layout W0: (out, in)), NEAT learns a small MLP
f that maps the frozen weight to its update, applied row-wise along the output dimension:

    H      = act(W0^T A^T)                      (in, r)   A: (r, out)
    H      = residual encoder/decoder pairs on H (in, r)   each (r, r), `depth` pairs
    dW^T   = H B^T                              (in, out) B: (out, r), zero at init
    y      = W0 x + b + scaling * x dW^T

PEFT's stock PEANuT layer materialises dW^T (in x out) every forward and multiplies every token
by it: an extra out x in matmul per token. H is token-independent and only (in x r), so we
compute y = W0 x + b + ((x H) scaling) B^T instead: the per-token cost is that of LoRA.

Parameters, their names and the saved format are PEFT's own (we subclass its layer), so an
adapter trained here is a plain PEANuT adapter and merge/unmerge come from PEFT: merging
computes dW from the ORIGINAL W0, which PEFT keeps to restore on unmerge.
GPT-2 style Conv1D layers (weight stored as (in, out)) are supported through `fan_in_fan_out`.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from peft.tuners.peanut.layer import Linear as PeanutLinear
from peft.tuners.peanut.layer import PeanutLayer
from transformers.activations import ACT2FN
from transformers.pytorch_utils import Conv1D


class NeatLinear(PeanutLinear):
    def __init__(self, base_layer, adapter_name: str, r: int, config, **kwargs) -> None:
        torch.nn.Module.__init__(self)
        base = base_layer.get_base_layer() if hasattr(base_layer, "get_base_layer") else base_layer
        self.fan_in_fan_out = isinstance(base, Conv1D)
        with warnings.catch_warnings():
            # PEFT warns that Conv1D is "unsupported"; we handle its transposed layout below.
            warnings.simplefilter("ignore", UserWarning)
            PeanutLayer.__init__(self, base_layer, **kwargs)
        if self.fan_in_fan_out:
            self.in_features, self.out_features = base.weight.shape
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, r, config=config)

    # -- the MLP f, on W0^T ----------------------------------------------------------------
    def _hidden(self, adapter: str, w0_t: torch.Tensor) -> torch.Tensor:
        """H = f(W0^T) before the output projection B: (in, r), in the adapter's dtype."""
        act = ACT2FN[self.act_fn[adapter]]
        a = self.peanut_A[adapter].weight
        # Cast the small A (r x out) down to W0's dtype rather than W0 up: no dense fp32 copy
        # of a bf16 W0 per step.
        h = act((w0_t @ a.to(w0_t.dtype).t()).to(a.dtype))
        residuals = []
        for encoder in self.peanut_encoders[adapter]:
            residuals.append(h)
            h = act(encoder(h))
        for decoder, residual in zip(self.peanut_decoders[adapter], reversed(residuals)):
            h = act(decoder(h)) + residual
        return h

    def _w0_t(self, weight: torch.Tensor) -> torch.Tensor:
        return weight if self.fan_in_fan_out else weight.t()

    def _compute_delta_weight(self, adapter: str, base_weight: torch.Tensor) -> torch.Tensor:
        """Dense dW in the base weight's storage layout; only for merging and inspection."""
        if adapter not in self.peanut_A:
            raise ValueError(f"Adapter {adapter} not found.")
        dtype = self.peanut_A[adapter].weight.dtype
        h = self._hidden(adapter, self._w0_t(base_weight).to(dtype))
        delta_t = (h @ self.peanut_B[adapter].weight.t()) * self.scaling[adapter]  # (in, out)
        return delta_t if self.fan_in_fan_out else delta_t.t()

    # -- factored forward ------------------------------------------------------------------
    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters or self.merged or not self.active_adapters:
            return super().forward(x, *args, **kwargs)  # PEFT handles unmerge / plain base
        result = self.base_layer(x, *args, **kwargs)
        w0_t = self._w0_t(self.get_base_layer().weight)
        for adapter in self.active_adapters:
            if adapter not in self.peanut_A:
                continue
            h = self._hidden(adapter, w0_t) * self.scaling[adapter]
            b = self.peanut_B[adapter].weight
            compute_dtype = x.dtype if x.is_floating_point() else h.dtype
            delta = (x.to(compute_dtype) @ h.to(compute_dtype)) @ b.to(compute_dtype).t()
            result = result + delta.to(result.dtype)
        return result

    def __repr__(self) -> str:
        return "neat." + super().__repr__()


def create_neat_module(peanut_config, adapter_name: str, target) -> NeatLinear:
    """Replacement for PeanutModel._create_new_module: Linear and Conv1D targets."""
    base = target.get_base_layer() if hasattr(target, "get_base_layer") else target
    if isinstance(base, (torch.nn.Linear, Conv1D)):
        return NeatLinear(target, adapter_name, r=peanut_config.r, config=peanut_config)
    raise NotImplementedError(
        f"NEAT adapts linear layers only; {type(base).__name__} is not supported. "
        "Choose target modules that are nn.Linear or Conv1D."
    )
