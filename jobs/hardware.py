"""The machine in one line for the app's footer: its devices, free memory and what runs now.

Facts that do not change (CPU model, cores, native bf16, GPU names) are read once; free memory
is read on each call (cheap: /proc/meminfo and one nvidia-smi query, kept for a few seconds).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

from jobs.devices import visible_gpus

GPU_FACTS_TTL_S = 10.0
_gpu_cache: tuple[float, list[dict]] = (float("-inf"), [])


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def cpu_cores() -> int:
    """The cores this process may use (its affinity), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@functools.cache
def cpu_bf16() -> bool:
    from neat.engine.precision import cpu_has_native_bf16

    return bool(cpu_has_native_bf16())


def free_ram_bytes() -> int | None:
    """Memory available to new processes (MemAvailable), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gpus() -> list[dict]:
    """[{index, name, free_bytes, total_bytes}] of the GPUs this machine offers (nvidia-smi)."""
    global _gpu_cache
    stamp, cached = _gpu_cache
    if time.monotonic() - stamp < GPU_FACTS_TTL_S:
        return cached
    found: list[dict] = []
    if visible_gpus() and shutil.which("nvidia-smi"):
        query = "--query-gpu=index,name,memory.free,memory.total"
        try:
            out = subprocess.run(
                ["nvidia-smi", query, "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
            wanted = set(visible_gpus())
            for line in out.splitlines():
                index, name, free, total = (part.strip() for part in line.split(",", 3))
                if index in wanted:
                    free_b, total_b = int(free) * 2**20, int(total) * 2**20
                    found.append({"index": index, "name": name, "free_bytes": free_b, "total_bytes": total_b})
        except (OSError, subprocess.SubprocessError, ValueError):
            found = []
    _gpu_cache = (time.monotonic(), found)
    return found


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.1f} GiB"


def hardware_line(running: int, queued: int, worker_problem: str | None = None) -> str:
    """E.g. "CPU: AMD EPYC 7B13 · 2 cores · bf16 yes · no GPU · 5.2 GiB RAM free · running 1 job"."""
    parts = [f"CPU: {cpu_model()}", f"{cpu_cores()} cores", f"bf16 {'yes' if cpu_bf16() else 'no'}"]
    cards = gpus()
    if cards:
        parts += [f"GPU {g['index']}: {g['name']} ({_gib(g['free_bytes'])} free)" for g in cards]
    else:
        parts.append("no GPU")
    parts.append(f"{_gib(free_ram_bytes())} RAM free")
    if worker_problem:
        parts.append(f"worker: {worker_problem}")
    else:
        now = f"running {running} job{'s' if running != 1 else ''}" if running else "idle"
        parts.append(now + (f", {queued} queued" if queued else ""))
    return " · ".join(parts)
