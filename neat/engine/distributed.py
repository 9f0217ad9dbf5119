"""What the processes of a data-parallel run must agree on.

Under DDP every process runs the same steps and meets the others in each step's gradient
all-reduce. Only rank 0 has listeners (it reports for the run), so a stop that rank 0 decides
alone would leave the other ranks waiting for it in the next all-reduce: the decision is shared.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def rank() -> int:
    """This process's rank in the run (0 outside a distributed launch)."""
    return int(os.environ.get("RANK", "0"))


def any_rank(flag: bool) -> bool:
    """True on every process when `flag` is True on any of them (one small all-reduce);
    `flag` itself outside a process group. Every process must call it at the same point."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    # NCCL reduces only tensors on the process's own GPU; gloo reduces CPU tensors
    on_gpu = dist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
