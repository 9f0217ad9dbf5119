"""Which numeric precision a run uses, decided once for training and inference alike.

`precision: auto` means bf16 where the hardware computes it natively (CUDA cards with bf16,
CPUs with AVX512-BF16 or AMX) and fp32 elsewhere: on such CPUs a bf16 matmul is several times
faster than fp32, without one it is emulated and slower.

Adapter methods (neat, lora) keep the frozen base in the low precision (half the memory, no
per-step weight casts) and the trainable adapter and task head in fp32; full fine-tuning keeps
fp32 weights. Both then run under autocast, so matmuls compute in the low precision while
gradients and optimizer state stay fp32.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import torch

LOW_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 matmuls natively (AVX512-BF16 or AMX tiles)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: read the kernel's CPU flags
        try:
            flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve(precision: str, device_type: str) -> str:
    """The precision that runs ("bf16", "fp16" or "fp32") for a spec's `precision` on a device."""
    if precision != "auto":
        return precision
    if device_type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device_type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def base_dtype(precision: str, method: str) -> torch.dtype | None:
    """dtype to load the base model in: low precision for a frozen base, None (fp32) otherwise."""
    if method == "full":
        return None
    return LOW_PRECISION.get(precision)


def trainable_to_fp32(model: torch.nn.Module) -> None:
    """Keep what trains (adapters, task heads) in fp32 on a low-precision base.

    PEFT upcasts adapter layers itself; copies of task heads (modules_to_save) keep the base
    dtype, and AdamW on bf16 weights loses small updates.
    """
    for param in model.parameters():
        if param.requires_grad and param.is_floating_point() and param.dtype != torch.float32:
            param.data = param.data.float()


def heads_in_fp32(model: torch.nn.Module, head_names) -> None:
    """Keep the task heads in fp32 and run them outside autocast: a tiny cost, and regression
    values and class scores keep fp32 resolution instead of bf16's three significant digits."""
    for name, module in model.named_modules():
        parts = name.split(".")
        if parts[-1] in head_names and not set(parts[:-1]) & set(head_names):
            module.float()
            module.forward = _fp32_forward(module.forward)


def _fp32_forward(forward):
    @functools.wraps(forward)
    def wrapped(*args, **kwargs):
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        device_type = tensors[0].device.type if tensors else "cpu"
        with torch.autocast(device_type, enabled=False):
            args = [_to_fp32(a) for a in args]
            kwargs = {k: _to_fp32(v) for k, v in kwargs.items()}
            return forward(*args, **kwargs)

    return wrapped


def _to_fp32(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.float()
    return value


@contextlib.contextmanager
def autocast(precision: str, device_type: str) -> Iterator[None]:
    """Autocast to the run's low precision (nothing for fp32)."""
    dtype = LOW_PRECISION.get(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device_type, dtype=dtype):
        yield
