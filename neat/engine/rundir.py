"""One run folder, as the engine writes it and everything else reads it:

    spec.yaml      the spec the run was started with
    labels.json    class names in id order, or {"regression": true} (classification tasks)
    adapter/       the PEFT adapter with the tokenizer/processor (method full: the whole model)
    metrics.jsonl  one line per log event: step, epoch, split, metrics, time
    summary.json   final metrics, trainable parameters, time, memory, versions, the spec
    checkpoints/   checkpoint-<step>/ with optimizer and scheduler state, for resuming
    test_split/    the held-out test rows (datasets' save_to_disk), when the spec asks for a test split
    test_metrics.json, predictions.csv   the kept checkpoint scored on them (neat/engine/evaluate.py;
                   images/ holds the test images predictions.csv names, for image runs)
    merged/, exports/   built on request (neat/engine/export.py)

A checkpoint counts once it is complete: the Trainer writes trainer_state.json last, so a
folder without it was being written when its process died and cannot be resumed from.
metrics.jsonl is appended line by line; a kill may cut its last line short, so readers skip
a line that does not parse.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from neat.engine.errors import ModelLoadError
from neat.engine.spec import RunSpec

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
COMPLETE_MARKER = "trainer_state.json"


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.spec_file = self.root / "spec.yaml"
        self.labels_file = self.root / "labels.json"
        self.adapter = self.root / "adapter"
        self.metrics_file = self.root / "metrics.jsonl"
        self.summary_file = self.root / "summary.json"
        self.checkpoints = self.root / "checkpoints"
        self.merged = self.root / "merged"
        self.exports = self.root / "exports"
        self.test_split = self.root / "test_split"
        self.test_metrics_path = self.root / "test_metrics.json"
        self.predictions_path = self.root / "predictions.csv"

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    def contents(self) -> dict[str, Any]:
        """What the folder holds, for a person about to delete it: whether it exists, has an
        adapter (or saved model), how many checkpoints, and its size in bytes."""
        if not self.root.is_dir():
            return {"exists": False, "adapter": False, "checkpoints": 0, "bytes": 0}
        size = sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file() and not f.is_symlink())
        return {
            "exists": True,
            "adapter": self.adapter.is_dir() and any(self.adapter.iterdir()),
            "checkpoints": len(self._checkpoint_dirs()),
            "bytes": size,
        }

    # -- checkpoints ---------------------------------------------------------------------------
    def _checkpoint_dirs(self) -> list[tuple[int, Path]]:
        if not self.checkpoints.is_dir():
            return []
        found = []
        for child in self.checkpoints.iterdir():
            match = _CHECKPOINT.match(child.name)
            if match and child.is_dir():
                found.append((int(match.group(1)), child))
        return sorted(found)

    def checkpoint_steps(self) -> list[int]:
        """Steps of the complete checkpoints, ascending."""
        return [step for step, path in self._checkpoint_dirs() if (path / COMPLETE_MARKER).is_file()]

    def latest_checkpoint(self) -> Path | None:
        """The newest checkpoint that finished saving (the one to resume from)."""
        complete = [path for _, path in self._checkpoint_dirs() if (path / COMPLETE_MARKER).is_file()]
        return complete[-1] if complete else None

    def latest_checkpoint_step(self) -> int | None:
        steps = self.checkpoint_steps()
        return steps[-1] if steps else None

    def remove_incomplete_checkpoints(self) -> list[int]:
        """Delete checkpoint folders a dead process left half-written; returns their steps."""
        removed = []
        for step, path in self._checkpoint_dirs():
            if not (path / COMPLETE_MARKER).is_file():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(step)
        return removed

    # -- metrics.jsonl -------------------------------------------------------------------------
    def _lines(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(line, record) for every line of metrics.jsonl that parses (a cut last line does not)."""
        if not self.metrics_file.is_file():
            return
        for line in self.metrics_file.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield line, record

    def records(self, up_to_step: int | None = None) -> list[dict[str, Any]]:
        """The logged events, optionally only those at steps <= `up_to_step`."""
        return [r for _, r in self._lines() if up_to_step is None or _step(r) <= up_to_step]

    def metric_points(self, up_to_step: int | None = None) -> list[dict[str, Any]]:
        """One point (step, epoch, split, name, value) per number logged at steps <= `up_to_step`
        (None: every step)."""
        points = []
        for record in self.records(up_to_step):
            if not isinstance(record.get("step"), int) or not isinstance(record.get("metrics"), dict):
                continue
            for name, value in record["metrics"].items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    points.append(
                        {
                            "step": record["step"],
                            "epoch": record.get("epoch"),
                            "split": record.get("split") or "train",
                            "name": name,
                            "value": value,
                        }
                    )
        return points

    def keep_records_up_to(self, step: int | None) -> None:
        """Start metrics.jsonl over, keeping the events at steps <= `step` (None: none)."""
        kept = [line for line, r in self._lines() if step is not None and _step(r) <= step]
        self.root.mkdir(parents=True, exist_ok=True)
        self.metrics_file.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def append_record(self, record: dict[str, Any]) -> None:
        with self.metrics_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    # -- what a finished run holds -------------------------------------------------------------
    def read_spec(self) -> RunSpec:
        if not self.spec_file.is_file():
            raise ModelLoadError(f"{self.root} is not a training run: spec.yaml is missing")
        return RunSpec.load(self.spec_file)

    def read_labels(self, task: str) -> tuple[list[str] | None, bool]:
        """(class names in id order, is_regression) from labels.json; (None, False) for causal LMs."""
        if task == "causal-lm":
            return None, False
        path = self.labels_file
        if not path.is_file():
            raise ModelLoadError(f"the run in {self.root} is incomplete: labels.json is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
        if data.get("regression"):
            return None, True
        labels = data.get("labels")
        if not isinstance(labels, list) or not labels:
            raise ModelLoadError(f"{path} lists no labels")
        return [str(label) for label in labels], False

    def read_test_metrics(self) -> dict[str, Any] | None:
        """The test split's metrics (evaluate.py's metrics.json schema); None when not scored."""
        try:
            data = json.loads(self.test_metrics_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _step(record: dict[str, Any]) -> int:
    step = record.get("step", 0)
    return step if isinstance(step, (int, float)) and not isinstance(step, bool) else 0
