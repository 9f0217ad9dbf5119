"""Facts recorded in summary.json next to the metrics: versions and peak memory."""

from __future__ import annotations

import resource
import sys
from importlib.metadata import PackageNotFoundError, version

import torch


def library_versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for package in ("torch", "transformers", "peft", "accelerate", "datasets"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def peak_memory_bytes() -> dict[str, int]:
    """Peak GPU memory allocated by torch (when on CUDA) and the process's peak RSS."""
    peak = {"host_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if torch.cuda.is_available():
        peak["cuda_allocated"] = int(torch.cuda.max_memory_allocated())
    return peak
