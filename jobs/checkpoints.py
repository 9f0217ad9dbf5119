"""What the engine left in a run folder: checkpoints/checkpoint-<step>/ (newest = highest step)."""

from __future__ import annotations

import re
from pathlib import Path

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_steps(output_dir: str | Path | None) -> list[int]:
    """Steps of the checkpoints saved in `output_dir/checkpoints`, ascending."""
    if not output_dir:
        return []
    folder = Path(output_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    steps = []
    for child in folder.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir() and any(child.iterdir()):
            steps.append(int(match.group(1)))
    return sorted(steps)


def latest_checkpoint_step(output_dir: str | Path | None) -> int | None:
    steps = checkpoint_steps(output_dir)
    return steps[-1] if steps else None
