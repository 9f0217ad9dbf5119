"""The listener interface between the training engine and whoever watches it (CLI, job queue).

The engine calls `on_event(event)` for every log event and polls `should_stop()` after every
optimiser step; returning True ends training cleanly after saving a checkpoint.

Event dicts always hold `kind`; the other keys depend on it:
- kind="log":      step, epoch, split ("train" or "eval"), metrics {name: float},
                   progress (0..1), eta_seconds (float or None)
- kind="progress": progress, eta_seconds, phase (e.g. "final evaluation": the steps are done and
                   the final evaluation and save run; eta_seconds counts them)
- kind="message":  text (a human-readable line for the job log), level ("info"|"warning")
- kind="checkpoint": step, path
"""

from __future__ import annotations

from typing import Protocol


class TrainingListener(Protocol):
    def on_event(self, event: dict) -> None: ...

    def should_stop(self) -> bool: ...


class PrintListener:
    """Writes message events to stdout; used by the CLI next to its progress bar."""

    def on_event(self, event: dict) -> None:
        if event["kind"] == "message":
            print(event["text"], flush=True)

    def should_stop(self) -> bool:
        return False
