"""What the engine left in a run folder: checkpoints/checkpoint-<step>/ and metrics.jsonl.

A checkpoint counts once it is complete: the Trainer writes trainer_state.json last, so a
folder without it was being written when its worker died, and cannot be resumed from.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
COMPLETE_MARKER = "trainer_state.json"


def _checkpoint_dirs(output_dir: str | Path | None) -> list[tuple[int, Path]]:
    if not output_dir:
        return []
    folder = Path(output_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    return sorted(found)


def checkpoint_steps(output_dir: str | Path | None) -> list[int]:
    """Steps of the complete checkpoints in `output_dir/checkpoints`, ascending."""
    return [step for step, path in _checkpoint_dirs(output_dir) if (path / COMPLETE_MARKER).is_file()]


def latest_checkpoint_step(output_dir: str | Path | None) -> int | None:
    steps = checkpoint_steps(output_dir)
    return steps[-1] if steps else None


def remove_incomplete_checkpoints(output_dir: str | Path | None) -> list[int]:
    """Delete checkpoint folders a dead worker left half-written (so the engine, which resumes
    from the highest-numbered folder, resumes from a complete one). Returns their steps."""
    removed = []
    for step, path in _checkpoint_dirs(output_dir):
        if not (path / COMPLETE_MARKER).is_file():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(step)
    return removed


def logged_points(output_dir: str | Path | None, up_to_step: int) -> list[dict[str, Any]]:
    """Metric points the engine wrote to metrics.jsonl at steps <= `up_to_step`."""
    path = Path(output_dir) / "metrics.jsonl" if output_dir else None
    if path is None or not path.is_file():
        return []
    points = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the last line may be cut short by a kill
        step = record.get("step")
        if not isinstance(step, int) or step > up_to_step or not isinstance(record.get("metrics"), dict):
            continue
        for name, value in record["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                points.append(
                    {
                        "step": step,
                        "epoch": record.get("epoch"),
                        "split": record.get("split") or "train",
                        "name": name,
                        "value": value,
                    }
                )
    return points
