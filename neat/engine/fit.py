"""Will a run fit? Memory and time estimates before launch, and the out-of-memory fallback.

The fallback: a run that ran out of memory is tried once more with half the micro-batch and
twice the gradient accumulation, which keeps the effective batch (and so the optimisation)
the same while roughly halving the activation memory.
"""

from __future__ import annotations

import dataclasses
import functools
import gc

import torch

from neat.engine.spec import RunSpec


def halved_micro_batch(spec: RunSpec) -> RunSpec | None:
    """The same run with half the micro-batch and twice the accumulation; None at batch 1."""
    t = spec.training
    if t.batch_size < 2:
        return None
    training = dataclasses.replace(t, batch_size=t.batch_size // 2, grad_accum=t.grad_accum * 2)
    return dataclasses.replace(spec, training=training)


def release_memory() -> None:
    """Give back what a failed attempt held, before the next one allocates."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- the estimate -------------------------------------------------------------------------------
GIB = 2**30
# Calibrated against measured peaks (benchmarks/fit_calibration.py, RESULTS.md "Fit check"):
HOST_BASELINE_BYTES = 0.75 * GIB  # python + torch + transformers + datasets, loaded, on a CPU run
HOST_BASELINE_GPU_BYTES = 2.0 * GIB  # the same on a GPU run (CUDA libraries and context in RAM)
CUDA_CONTEXT_BYTES = 0.5 * GIB  # CUDA context and allocator slack on the card
ACTIVATION_FACTOR = 1.0  # scales the per-layer activation formula below
# Achieved / probed matmul throughput in a whole training step. CPU: the quick demo's MiniLM
# NEAT steps (batch 16, p99 57 tokens; 547 ms fp32, 241 ms bf16, one thread, a quiet machine)
# against the probe in the same conditions (benchmarks/RESULTS.md, "Fit check calibration"):
# a bf16 step gains about half of what a bf16 matmul gains (dropout masks, norms and the
# optimizer do not speed up). GPU: a guess, not yet calibrated on a card.
TIME_EFFICIENCY = {("cpu", "fp32"): 0.85, ("cpu", "bf16"): 0.45, ("cpu", "fp16"): 0.1}
GPU_TIME_EFFICIENCY = 0.35


@dataclasses.dataclass
class FitEstimate:
    gpu_bytes: int | None  # None on a CPU-only machine
    ram_bytes: int
    minutes: float | None  # None when the number of steps is unknown
    precision: str
    device: str
    free_gpu_bytes: int | None
    free_ram_bytes: int | None
    devices: int = 1  # training.num_devices: the memory figures are per device (per process)

    def sentence(self) -> str:
        parts = []
        if self.gpu_bytes is not None:
            parts.append(f"{self.gpu_bytes / GIB:.1f} GiB of GPU memory")
        parts.append(f"{self.ram_bytes / GIB:.1f} GiB of RAM")
        text = f"needs about {' / '.join(parts)}"
        if self.devices > 1:
            text += f" per device ({self.devices} devices)"
        if self.minutes is not None:
            on = "this machine" if self.devices == 1 else f"{self.devices} devices like this machine's"
            text += f", about {_minutes(self.minutes)} on {on} ({self.device}, {self.precision})"
        return text

    def warnings(self) -> list[str]:
        found = []
        gpu, free_gpu = self.gpu_bytes, self.free_gpu_bytes
        if gpu is not None and free_gpu is not None and gpu > free_gpu:
            found.append(
                f"this needs more GPU memory than is free ({self.free_gpu_bytes / GIB:.1f} GiB): "
                "lower training.batch_size or training.max_length, or use method neat/lora"
            )
        # the data-parallel processes share the machine's RAM: each holds its own copy
        ram = self.ram_bytes * self.devices
        if self.free_ram_bytes is not None and ram > self.free_ram_bytes:
            processes = f" ({self.devices} processes)" if self.devices > 1 else ""
            found.append(
                f"this needs more RAM than is free{processes} ({self.free_ram_bytes / GIB:.1f} GiB): "
                "lower training.batch_size or training.max_length, or use a smaller model"
            )
        return found


def _minutes(minutes: float) -> str:
    if minutes < 1.5:
        return "1 minute"
    if minutes < 90:
        return f"{round(minutes)} minutes"
    return f"{minutes / 60:.1f} hours"


def _shape(config) -> dict:
    text = getattr(config, "text_config", None) or config
    hidden = getattr(text, "hidden_size", None) or getattr(text, "n_embd", None) or 768
    return {
        "hidden": hidden,
        "layers": getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer", None) or 12,
        "heads": getattr(text, "num_attention_heads", None) or getattr(text, "n_head", None) or 12,
        "vocab": getattr(text, "vocab_size", None) or 0,
    }


def _tokens_per_sample(spec: RunSpec, config) -> int:
    if spec.task == "image-classification":
        image = getattr(config, "image_size", 224)
        patch = getattr(config, "patch_size", 16)
        image = image[0] if isinstance(image, (list, tuple)) else image
        patch = patch[0] if isinstance(patch, (list, tuple)) else patch
        return (image // patch) ** 2 + 1
    return spec.training.max_length


def estimate(
    spec: RunSpec,
    train_rows: int | None = None,
    device: str | None = None,
    num_labels: int = 2,
    token_lengths: dict | None = None,
) -> FitEstimate:
    """Memory and time a run needs, from the model's config on the meta device (no weights).

    Batches are padded to their longest row, so with the dataset check's `token_lengths`
    (p50/p90/p99/max) memory follows the longest row and time a typical batch; without them
    every row counts as max_length long. Memory is per device (training.batch_size is per
    device); with training.num_devices > 1 the time is that of the run's steps on that many
    devices like this one.
    """
    from neat.engine import precision as precisions
    from neat.engine.budget import meta_model, param_budget

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    precision = precisions.resolve(spec.training.precision, device)
    model = meta_model(spec.model.name_or_path, spec.task, num_labels, spec.model.trust_remote_code)
    shape = _shape(model.config)
    total = sum(p.numel() for p in model.parameters())
    method = spec.method.name
    if method == "full":
        trainable = total
    else:
        name, trust = spec.model.name_or_path, spec.model.trust_remote_code
        budget = param_budget(name, spec.task, spec.method, num_labels, trust)
        trainable = budget[method] + budget["head"]
    low = precision in ("bf16", "fp16")
    base_bytes = total * (2 if low and method != "full" else 4)
    # full fine-tuning under autocast also caches a low-precision copy of the weights per step
    autocast_copy = total * 2 if low and method == "full" else 0
    train_state = trainable * (4 + 4 + 8)  # fp32 weights (adapters), gradients, AdamW's 2 moments
    batch, tokens = spec.training.batch_size, _tokens_per_sample(spec, model.config)
    typical = tokens
    if token_lengths and spec.task != "image-classification":
        typical = min(tokens, token_lengths.get("p99") or tokens)
        tokens = min(tokens, token_lengths.get("max") or tokens)
    act_bytes_per_element = 2 if low else 4
    h, a, layers = shape["hidden"], shape["heads"], shape["layers"]
    # Korthikanti et al. (2022): per layer s*b*h*(34 + 5*a*s/h) bytes at 2 bytes an element
    per_layer = tokens * batch * h * (34 + 5 * a * tokens / h) * act_bytes_per_element / 2
    activations = ACTIVATION_FACTOR * layers * per_layer
    if spec.task == "causal-lm":
        activations += batch * tokens * shape["vocab"] * 4 * 3  # fp32 logits, their softmax and gradient
    work = base_bytes + autocast_copy + train_state + activations
    if device == "cuda":
        gpu = int(work + CUDA_CONTEXT_BYTES)
        ram = int(HOST_BASELINE_GPU_BYTES + total * 4)  # weights pass through RAM at load time
    else:
        gpu, ram = None, int(HOST_BASELINE_BYTES + work)
    minutes = None
    steps = _steps(spec, train_rows)
    if steps is not None:
        # forward: 2 flops per linear weight and token, plus attention's 4*s*h per token and layer;
        # backward: twice that for full fine-tuning (activation and weight gradients), about the
        # same again for a frozen base (activation gradients only)
        from neat.tuner import list_linear_modules

        linear = sum(i * o for _, i, o in list_linear_modules(model))
        forward = 2 * linear + 4 * typical * h * layers
        flops = (3 if method == "full" else 2) * forward * batch * spec.training.grad_accum * typical
        efficiency = TIME_EFFICIENCY.get((device, precision), GPU_TIME_EFFICIENCY)
        minutes = steps * flops / (efficiency * matmul_flops(device, precision)) / 60
    free_gpu, free_ram = _free_memory(device)
    devices = spec.training.num_devices
    return FitEstimate(gpu, ram, minutes, precision, device, free_gpu, free_ram, devices)


def _steps(spec: RunSpec, train_rows: int | None) -> int | None:
    """Optimizer steps of the run; a step's work, per device, is batch_size x grad_accum rows."""
    t = spec.training
    if t.max_steps > 0:
        return t.max_steps
    if not train_rows:
        return None
    import math

    # Data-parallel: each step takes batch_size x grad_accum rows on every device at once, so an
    # epoch is num_devices times fewer steps and each device does 1/num_devices of its work (to
    # first order: the gradient all-reduce is not counted). Max steps are steps of every device,
    # so a run of max_steps takes as long on several devices as on one (and sees more rows).
    return math.ceil(t.epochs * math.ceil(train_rows / (t.batch_size * t.grad_accum * t.num_devices)))


@functools.cache
def matmul_flops(device: str, precision: str) -> float:
    """Measured matmul throughput (flop/s) of this machine in this precision, once per process."""
    import time

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    n = 1024 if device == "cuda" else 384
    x = torch.randn(n, n, device=device, dtype=dtype)
    x @ x  # warm-up (kernel selection)
    best = float("inf")
    for _ in range(20):  # the best of many: other work on a shared machine only slows a trial
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(10):
            x @ x
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * 10 / max(best, 1e-9)


def _free_memory(device: str) -> tuple[int | None, int]:
    free_gpu = None
    if device == "cuda" and torch.cuda.is_available():
        free_gpu = int(torch.cuda.mem_get_info()[0])
    free_ram = None
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemAvailable:"):
                free_ram = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    return free_gpu, free_ram
