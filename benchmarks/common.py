"""Timing and memory helpers shared by the benchmarks: paired, interleaved, median.

On a shared or noisy machine only ratios measured side by side in one process mean anything,
so every comparison here runs its contenders round-robin (one timed call of each per repeat,
the order rotating), takes medians, and reports per-repeat paired ratios with a
distribution-free confidence interval. Needs only torch.
"""

from __future__ import annotations

import gc
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable

import torch


def synchronize(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "process": time.process_time}


def interleaved_times(
    calls: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int,
    device: torch.device | str,
    progress: str | None = None,
    clock: str = "wall",
) -> dict[str, list[float]]:
    """Seconds per call of each contender: `warmup` untimed rounds, then `repeats` timed ones.

    Each round runs every contender once; the starting contender rotates from round to round so
    that slow drift (thermal, other tenants, allocator state) is shared alike. Python's cyclic
    garbage collector is off inside the rounds and runs between them, never inside a timed call.
    With `progress`, one line per round goes to stderr under that label.

    clock="wall" (perf_counter, the default and the only one that sees GPU work) or "process":
    the CPU time of this process. On a CPU shared with other jobs, process time with ONE torch
    thread (torch.set_num_threads(1)) measures the work a call does while hardly seeing the
    other tenants: wall time then mostly measures how long we waited for a core.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}")
    if clock == "process" and torch.device(device).type != "cpu":
        raise ValueError("process time does not see GPU work: use clock='wall' on a GPU")
    now = CLOCKS[clock]
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(warmup + repeats):
            gc.collect(1)  # a full collection can take longer than a small step; young ones suffice
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                synchronize(device)
                start = now()
                calls[name]()
                synchronize(device)
                elapsed = now() - start
                if round_index >= warmup:
                    times[name].append(elapsed)
            if progress:
                phase = "warm-up" if round_index < warmup else "round"
                number = round_index + 1 if round_index < warmup else round_index + 1 - warmup
                total = warmup if round_index < warmup else repeats
                print(f"  {progress}: {phase} {number}/{total}", file=sys.stderr, flush=True)
    finally:
        if was_enabled:
            gc.enable()
    return times


def median_ci(values: Iterable[float], z: float = 1.96) -> tuple[float, float, float]:
    """(median, low, high): the median and a distribution-free ~95% interval for it.

    The interval is read off the order statistics (binomial / sign-test bounds), so it needs no
    assumption about the shape of the noise; with few values it is simply the min and max.
    """
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    k = max(0, math.floor((n - z * math.sqrt(n)) / 2))
    return statistics.median(ordered), ordered[k], ordered[n - 1 - k]


def paired_ratio(numerator: list[float], denominator: list[float]) -> dict[str, float]:
    """Median over repeats of numerator[i] / denominator[i] (same round), with its interval."""
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    median, low, high = median_ci(ratios)
    return {"median": median, "ci_low": low, "ci_high": high}


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes held by the distinct storages behind `tensors` (shared storage counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for tensor in tensors:
        if tensor is None or not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
            continue
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        if key in seen:
            continue
        seen.add(key)
        total += storage.nbytes()
    return total


def optimizer_state_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]


def transient_peak_bytes(fn: Callable[[], object], device: torch.device | str) -> int:
    """Largest amount of memory `fn` allocates above what was allocated when it started.

    CUDA: torch.cuda.max_memory_allocated() after a peak reset, minus memory_allocated() at the
    start. CPU: torch has no CPU allocator statistics and the process RSS high-water mark cannot
    be reset, so we record every tensor allocation and free with torch.profiler
    (profile_memory=True) and take the peak of their running sum. Both count tensor memory only
    (no allocator caching or fragmentation), so the two devices report the same quantity.
    """
    device = torch.device(device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    ]
    running = peak = 0
    for _, nbytes in sorted(events):
        running += nbytes
        peak = max(peak, running)
    return peak


def format_table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured Markdown table (also readable as plain text)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])
