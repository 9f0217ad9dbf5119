"""Which GPUs a worker owns: `--gpus all|0,1,... [--gpus-per-worker N]`.

The supervising `python -m jobs.worker --gpus ...` starts one worker process per group of N
GPUs (N=1 by default), each with CUDA_VISIBLE_DEVICES set to its own GPUs (CUDA then numbers
them from cuda:0, whatever their numbers) and NEAT_WORKER_GPUS naming them, so that the job it
claims records where it ran. GPU numbers are nvidia-smi's (PCI bus order;
CUDA_DEVICE_ORDER=PCI_BUS_ID makes CUDA agree).

A worker owns as many devices as its GPUs; one without GPUs owns one (the CPU), or
NEAT_WORKER_CPU_DEVICES of them: CPU processes that stand in for devices, so that a
data-parallel job runs on a CPU-only machine (gloo), as the tests do.
"""

from __future__ import annotations

import os
import shutil
import subprocess

ASSIGNED_ENV = "NEAT_WORKER_GPUS"
CPU_DEVICES_ENV = "NEAT_WORKER_CPU_DEVICES"


class GpuSpecError(ValueError):
    pass


def visible_gpus() -> list[str]:
    """GPU numbers this machine offers (CUDA_VISIBLE_DEVICES if set, else nvidia-smi's list)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def parse_gpus(value: str, available: list[str] | None = None) -> list[str]:
    """`all` or a comma-separated list of GPU numbers, checked; raises GpuSpecError with the reason."""
    value = (value or "").strip()
    if value == "all":
        gpus = visible_gpus() if available is None else list(available)
        if not gpus:
            raise GpuSpecError("--gpus all: no GPU found on this machine (nvidia-smi lists none)")
        return gpus
    gpus = [g.strip() for g in value.split(",") if g.strip()]
    if not gpus:
        raise GpuSpecError("--gpus needs `all` or GPU numbers such as 0,1")
    bad = [g for g in gpus if not g.isdigit()]
    if bad:
        raise GpuSpecError(f"--gpus: {', '.join(bad)} is not a GPU number (use `all` or e.g. 0,1)")
    if len(set(gpus)) != len(gpus):
        raise GpuSpecError(f"--gpus lists a GPU twice: {value}")
    return gpus


def group_gpus(gpus: list[str], per_worker: int) -> list[list[str]]:
    """The GPUs split into workers of `per_worker` each, in order; GpuSpecError if they do not split."""
    if per_worker < 1:
        raise GpuSpecError(f"--gpus-per-worker must be at least 1, got {per_worker}")
    if len(gpus) % per_worker:
        raise GpuSpecError(
            f"--gpus-per-worker {per_worker}: {len(gpus)} GPUs ({','.join(gpus)}) do not split into "
            f"workers of {per_worker}; give a multiple of {per_worker} GPUs"
        )
    return [gpus[i : i + per_worker] for i in range(0, len(gpus), per_worker)]


def worker_env(gpus: str | list[str], base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the worker that owns `gpus` (one GPU number, or a group of them)."""
    visible = gpus if isinstance(gpus, str) else ",".join(gpus)
    env = dict(os.environ if base is None else base)
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    env["CUDA_VISIBLE_DEVICES"] = visible
    env[ASSIGNED_ENV] = visible
    return env


def assigned_device() -> str:
    """What a job claimed by this process records: `gpu:N` (`gpu:0,1` for a group) for a GPU
    worker, else `cpu`."""
    gpus = os.environ.get(ASSIGNED_ENV)
    return f"gpu:{gpus}" if gpus else "cpu"


def owned_devices() -> int:
    """How many devices this worker trains on: its GPUs, else NEAT_WORKER_CPU_DEVICES, else 1."""
    gpus = [g for g in os.environ.get(ASSIGNED_ENV, "").split(",") if g.strip()]
    if gpus:
        return len(gpus)
    raw = os.environ.get(CPU_DEVICES_ENV, "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise GpuSpecError(f"{CPU_DEVICES_ENV} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def busy_gpus(running_devices) -> set[str]:
    """GPU numbers in use by running jobs, from their recorded devices (`gpu:N`, `gpu:N,M`)."""
    busy = set()
    for device in running_devices:
        if device and device.startswith("gpu:"):
            busy.update(g for g in device.removeprefix("gpu:").split(",") if g)
    return busy


def devices_wanted(job: dict) -> int:
    """The devices a job trains on: its training.num_devices (evaluations: 1)."""
    if job.get("kind") == "evaluate":
        return 1
    training = (job.get("spec") or {}).get("training") or {}
    return int(training.get("num_devices") or 1)
