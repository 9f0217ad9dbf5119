"""Which GPUs a worker owns: `--gpus all|0,1,...` gives one worker per GPU.

The supervising `python -m jobs.worker --gpus ...` starts one worker process per GPU, each with
CUDA_VISIBLE_DEVICES set to its own GPU (CUDA then shows it as cuda:0, whatever its number)
and NEAT_WORKER_GPUS naming it, so that the job it claims records where it ran. GPU numbers
are nvidia-smi's (PCI bus order; CUDA_DEVICE_ORDER=PCI_BUS_ID makes CUDA agree).
"""

from __future__ import annotations

import os
import shutil
import subprocess

ASSIGNED_ENV = "NEAT_WORKER_GPUS"


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


def worker_env(gpu: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the worker that owns `gpu`."""
    env = dict(os.environ if base is None else base)
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    env["CUDA_VISIBLE_DEVICES"] = gpu
    env[ASSIGNED_ENV] = gpu
    return env


def assigned_device() -> str:
    """What a job claimed by this process records: `gpu:N` for a GPU worker, else `cpu`."""
    gpus = os.environ.get(ASSIGNED_ENV)
    return f"gpu:{gpus}" if gpus else "cpu"


def busy_gpus(running_devices) -> set[str]:
    """GPU numbers in use by running jobs, from their recorded devices (`gpu:N`)."""
    return {d.removeprefix("gpu:") for d in running_devices if d and d.startswith("gpu:")}
