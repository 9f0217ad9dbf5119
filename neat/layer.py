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
In code H is kept transposed, H^T = act(A W0) of shape (r, in), so W0 is used in its own layout.

Parameters, their names and the saved format are PEFT's own (we subclass its layer), so an
adapter trained here is a plain PEANuT adapter and merge/unmerge come from PEFT: merging
computes dW from the ORIGINAL W0, which PEFT keeps to restore on unmerge.
GPT-2 style Conv1D layers (weight stored as (in, out)) are supported through `fan_in_fan_out`.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
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

    # -- the MLP f, on W0^T (kept transposed: rows of H^T are the r hidden units) -------------
    def _hidden_t(self, adapter: str, w0: torch.Tensor) -> torch.Tensor:
        """H^T = f(W0^T)^T before the output projection B: (r, in), in the adapter's dtype.

        Working on H^T lets W0 (out, in) be used in its own layout: A W0 is (r, out) @ (out, in).
        """
        act = ACT2FN[self.act_fn[adapter]]
        a = self.peanut_A[adapter].weight
        # Cast the small A (r x out) down to W0's dtype rather than W0 up: no dense fp32 copy
        # of a bf16 W0 per step.
        h_t = act((a.to(w0.dtype) @ w0).to(a.dtype))
        residuals = []
        for encoder in self.peanut_encoders[adapter]:
            residuals.append(h_t)
            h_t = act(encoder.weight @ h_t)
        for decoder, residual in zip(self.peanut_decoders[adapter], reversed(residuals)):
            h_t = act(decoder.weight @ h_t) + residual
        return h_t

    def _w0(self, weight: torch.Tensor) -> torch.Tensor:
        """W0 in PyTorch's (out, in) layout whatever the storage (Conv1D stores (in, out))."""
        return weight.t() if self.fan_in_fan_out else weight

    def _compute_delta_weight(self, adapter: str, base_weight: torch.Tensor) -> torch.Tensor:
        """Dense dW in the base weight's storage layout; only for merging and inspection."""
        if adapter not in self.peanut_A:
            raise ValueError(f"Adapter {adapter} not found.")
        dtype = self.peanut_A[adapter].weight.dtype
        h_t = self._hidden_t(adapter, self._w0(base_weight).to(dtype))
        delta = (self.peanut_B[adapter].weight @ h_t) * self.scaling[adapter]  # (out, in)
        return delta.t() if self.fan_in_fan_out else delta

    # -- factored forward ------------------------------------------------------------------
    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters or self.merged or not self.active_adapters:
            return super().forward(x, *args, **kwargs)  # PEFT handles unmerge / plain base
        result = self.base_layer(x, *args, **kwargs)
        w0 = self._w0(self.get_base_layer().weight)
        for adapter in self.active_adapters:
            if adapter not in self.peanut_A:
                continue
            # scaling folds into the small H^T, not the (tokens x out) output
            h_t = self._hidden_t(adapter, w0) * self.scaling[adapter]
            b = self.peanut_B[adapter].weight
            dtype = x.dtype if x.is_floating_point() else h_t.dtype
            # x H B^T as two linears: the same kernels and layouts as LoRA's per-token path
            delta = F.linear(F.linear(x.to(dtype), h_t.to(dtype)), b.to(dtype))
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
