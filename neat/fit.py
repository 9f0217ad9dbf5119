"""Will a run fit? Memory and time estimates before launch, and the out-of-memory fallback.

The fallback: a run that ran out of memory is tried once more with half the micro-batch and
twice the gradient accumulation, which keeps the effective batch (and so the optimisation)
the same while roughly halving the activation memory.
"""

from __future__ import annotations

import dataclasses
import gc

import torch

from neat.spec import RunSpec


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
