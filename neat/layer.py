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

Initialisation (`init_weights`, PEFT's own field): True/False are PEFT's (A Kaiming-uniform, B zero
or not). With Kaiming A the scale of H is rms(W0)/sqrt(3) times the activation's gain, so the
update scaling * B H^T moves at a rate set by W0's scale, which differs between models and
layers by 10x and more (benchmarks/RESULTS.md, "NEAT update scale"). "calibrated" (the project's
default) removes that dependence: A gets orthonormal rows, each row's sign chosen so that most of
its pre-activations are positive (fewer dead ReLU entries), then A is rescaled per layer so that
the hidden features H^T = f(W0^T)^T have RMS exactly 1/sqrt(in): x H then has the scale of x,
whatever W0's. The calibration lives in A's saved weights (and B is zero), so a stock PEFT
PEANuT model loads the adapter with identical outputs; "calibrated" in adapter_config.json is a
truthy value to stock PEFT, which only uses it to zero B before loading the saved weights.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from peft.tuners.peanut.layer import Linear as PeanutLinear
from peft.tuners.peanut.layer import PeanutLayer
from transformers.activations import ACT2FN
from transformers.pytorch_utils import Conv1D

CALIBRATED = "calibrated"
INIT_CHOICES = (True, False, CALIBRATED)


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

    # -- initialisation ----------------------------------------------------------------------
    def reset_peanut_parameters(self, adapter_name: str, init_weights: bool | str = True) -> None:
        super().reset_peanut_parameters(adapter_name, init_weights=bool(init_weights))
        if init_weights == CALIBRATED and adapter_name in self.peanut_A:
            self._calibrate_a(adapter_name)

    @torch.no_grad()
    def _calibrate_a(self, adapter: str) -> None:
        """A with orthonormal, sign-chosen rows, scaled so that rms(f(W0^T)^T) = 1/sqrt(in)."""
        weight = self.peanut_A[adapter].weight
        w0 = self._w0(self.get_base_layer().weight).detach().float()
        if "meta" in (w0.device.type, weight.device.type):  # shapes only (or weights loaded next)
            return
        r, out = weight.shape
        q, _ = torch.linalg.qr(torch.randn(max(r, out), min(r, out)))  # global RNG: seeded runs repeat
        a = (q.t() if r <= out else q).to(w0.device)  # (r, out), orthonormal rows (or columns if r > out)
        live = (a @ w0 > 0).float().mean(1, keepdim=True)
        a = torch.where(live < 0.5, -a, a)  # the sign with more positive pre-activations
        weight.copy_(a.to(weight.dtype))
        w0 = w0.to(weight.dtype)
        if float(ACT2FN[self.act_fn[adapter]](torch.zeros(1))) != 0.0:
            # f(0) != 0 (sigmoid): H cannot be made small, so put A W0 in f's curved range instead
            weight.mul_(1.0 / (weight @ w0).float().pow(2).mean().sqrt().clamp_min(1e-12).to(weight.dtype))
            return
        target = 1.0 / math.sqrt(w0.shape[1])
        for _ in range(3):  # exact in one step for positively homogeneous activations (ReLU, linear)
            rms = self._hidden_t(adapter, w0).float().pow(2).mean().sqrt()
            if not torch.isfinite(rms) or rms <= 0:
                break
            weight.mul_((target / rms).to(weight.dtype))

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
