"""From Trainer callbacks to listener events: logs, progress/ETA, checkpoints, stop requests."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from neat.engine.distributed import any_rank, rank
from neat.engine.eta import EtaClock
from neat.engine.metrics import bare, is_bookkeeping
from neat.engine.rundir import RunDir


class EventBridge(TrainerCallback):
    def __init__(self, listeners: list, add_perplexity: bool = False):
        self.listeners = listeners
        self.add_perplexity = add_perplexity
        self.stop_requested = False
        self.muted = False
        self.eta = EtaClock()  # train.run tells it the evaluation set's size
        self._mark = time.time()  # when the last step or evaluation ended: a save's start
        # A test hook: raise a real torch OutOfMemoryError at this optimiser step.
        oom_step = os.environ.get("NEAT_SIMULATE_OOM_AT_STEP")
        self._oom_step = int(oom_step) if oom_step else None
        # Another: a micro-batch larger than this runs out of memory at its first step.
        oom_batch = os.environ.get("NEAT_SIMULATE_OOM_ABOVE_BATCH")
        self._oom_above_batch = int(oom_batch) if oom_batch else None
        # And one for data-parallel runs: "RANK:STEP" makes that process fail at that step.
        failure = os.environ.get("NEAT_SIMULATE_RANK_FAILURE")
        self._failure = tuple(int(part) for part in failure.split(":")) if failure else None

    # -- emitting -----------------------------------------------------------------------------
    def emit(self, event: dict) -> None:
        if self.muted:
            return
        for listener in self.listeners:
            listener.on_event(event)

    def message(self, text: str, level: str = "info") -> None:
        self.emit({"kind": "message", "text": text, "level": level})

    def _progress(self, state) -> tuple[float, float | None]:
        if not state.max_steps:
            return 0.0, None
        progress = min(1.0, state.global_step / state.max_steps)
        return progress, self.eta.remaining(state.global_step, state.max_steps, time.time())

    def log_point(self, step: int, epoch: float | None, split: str, metrics: dict, state) -> None:
        progress, eta = self._progress(state)
        self.emit(
            {
                "kind": "log",
                "step": int(step),
                "epoch": float(epoch or 0.0),
                "split": split,
                "metrics": metrics,
                "progress": progress,
                "eta_seconds": eta,
            }
        )

    def final_eval(self, step: int, epoch: float | None, metrics: dict) -> None:
        """The evaluation of the best (restored) model after training, as split `final`."""
        self.muted = False
        values = {bare(k): float(v) for k, v in metrics.items() if _is_metric(k)}
        self.emit(
            {
                "kind": "log",
                "step": int(step),
                "epoch": float(epoch or 0.0),
                "split": "final",
                "metrics": values,
                "progress": 1.0,
                "eta_seconds": 0.0,
            }
        )

    # -- Trainer callbacks ----------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self.eta.eval_every = args.eval_steps if str(args.eval_strategy).endswith("steps") else None
        self.eta.rows_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
        self.eta.start(state.global_step, time.time())
        self._mark = time.time()

    def on_train_end(self, args, state, control, **kwargs):
        """The steps are done; the final evaluation and save follow: say so, with their ETA."""
        if self.stop_requested or not state.max_steps:
            return
        per_step = self.eta.step_seconds(state.global_step, time.time())
        self.emit(
            {
                "kind": "progress",
                "progress": min(1.0, state.global_step / state.max_steps),
                "eta_seconds": self.eta.final_seconds(per_step),
                "phase": "final evaluation",
            }
        )

    def on_evaluate(self, args, state, control, **kwargs):
        self._mark = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if any(k.startswith("eval_") for k in logs):
            if _is_number(logs.get("eval_runtime")):  # logged before on_evaluate: time it here
                self.eta.evaluated(logs["eval_runtime"])
            values = {bare(k): float(v) for k, v in logs.items() if _is_metric(k)}
            if self.add_perplexity and "loss" in values:
                values["perplexity"] = math.exp(min(values["loss"], 50.0))
            split = "eval"
        else:
            values = {k: float(v) for k, v in logs.items() if not is_bookkeeping(k) and _is_number(v)}
            split = "train"
        if values:
            self.log_point(state.global_step, state.epoch, split, values, state)

    def on_step_end(self, args, state, control, **kwargs):
        if self._oom_step is not None and state.global_step >= self._oom_step:
            raise torch.OutOfMemoryError(f"simulated out of memory at step {state.global_step}")
        if self._oom_above_batch is not None and args.per_device_train_batch_size > self._oom_above_batch:
            raise torch.OutOfMemoryError(
                f"simulated out of memory with a micro-batch of {args.per_device_train_batch_size}"
            )
        if self._failure is not None and self._failure == (rank(), state.global_step):
            raise RuntimeError(f"simulated failure of rank {rank()} at step {state.global_step}")
        self._mark = time.time()
        # every process asks, and stops with the others: under DDP only rank 0 has listeners
        wanted = not self.stop_requested and any(listener.should_stop() for listener in self.listeners)
        if not self.stop_requested and any_rank(wanted):
            self.stop_requested = True
            control.should_save = True
            control.should_training_stop = True
            self.message(f"stop requested at step {state.global_step}; saving a checkpoint")
        return control

    def on_save(self, args, state, control, **kwargs):
        self.eta.saved(time.time() - self._mark)
        self._mark = time.time()
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.emit({"kind": "checkpoint", "step": int(state.global_step), "path": str(path)})


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_metric(key: str) -> bool:
    return key.startswith("eval_") and not is_bookkeeping(key)


class MetricsFile:
    """Appends every log event to the run's metrics.jsonl; on resume drops points past the checkpoint."""

    def __init__(self, run: RunDir, keep_up_to_step: int | None = None):
        self.run = run
        self._keep = keep_up_to_step
        self._prepared = False

    def _prepare(self) -> None:
        self.run.keep_records_up_to(self._keep)
        self._prepared = True

    def on_event(self, event: dict) -> None:
        if event["kind"] != "log":
            return
        if not self._prepared:
            self._prepare()
        record = {k: event[k] for k in ("step", "epoch", "split", "metrics")}
        record["time"] = time.time()
        self.run.append_record(record)

    def should_stop(self) -> bool:
        return False


class ProgressBar:
    """A tqdm bar for the CLI, driven by log events."""

    def __init__(self):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=100, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}] {postfix}"
        )

    def on_event(self, event: dict) -> None:
        if event["kind"] != "log":
            return
        self._bar.n = round(100 * event["progress"], 1)
        shown = {
            k: f"{v:.4g}" for k, v in event["metrics"].items() if k in ("loss", "accuracy", "learning_rate")
        }
        self._bar.set_postfix(split=event["split"], **shown)
        if event["progress"] >= 1.0 and event["split"] == "final":
            self._bar.close()

    def should_stop(self) -> bool:
        return False
