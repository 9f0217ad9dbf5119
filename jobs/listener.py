"""What a running job reports to the database while the engine trains.

`JobListener` is the engine's `neat.engine.events.TrainingListener`: it batches metric points
(one transaction per `flush_every` points or `flush_interval` seconds, and at every checkpoint),
keeps progress, ETA and the best metric up to date, copies message events into the job log,
and answers `should_stop()` from the job row (cancel requested, or the job is no longer ours),
reading it at most once per `stop_check_interval` seconds.

`Heartbeat` is a thread that stamps `heartbeat_at` every few seconds while the job runs, so
that a worker that died (kill -9, machine gone) is noticed by the others.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from jobs import store
from neat.engine.metrics import bare, best_candidates, lower_is_better

log = logging.getLogger("jobs.listener")


class JobListener:
    def __init__(
        self,
        job: dict[str, Any],
        host: str,
        pid: int,
        flush_every: int = 50,
        flush_interval: float = 2.0,
        stop_check_interval: float = 1.0,
    ):
        self.job_id = job["id"]
        self.host, self.pid = host, pid
        self.flush_every = flush_every
        self.flush_interval = flush_interval
        self.stop_check_interval = stop_check_interval
        training = (job.get("spec") or {}).get("training") or {}
        task = (job.get("spec") or {}).get("task", "classification")
        self._best_candidates = best_candidates(task, training.get("metric_for_best"))
        self.best_name: str | None = job.get("best_metric_name")
        self.best_value: float | None = job.get("best_metric_value")
        self._points: list[dict[str, Any]] = []
        self._progress: dict[str, Any] = {}
        self._last_flush = time.monotonic()
        self._last_stop_check = float("-inf")
        self._stop_state = "run"
        self._lock = threading.Lock()

    # ---- TrainingListener ------------------------------------------------------------------
    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "log":
            self._on_log(event)
        elif kind == "progress":
            with self._lock:
                self._progress.update(progress=float(event["progress"]), eta_seconds=event.get("eta_seconds"))
            self.flush()  # the phase changed: show it now
            if event.get("phase"):
                self._safe(store.add_event, self.job_id, f"{event['phase']}…")
        elif kind == "message":
            self._safe(store.add_event, self.job_id, str(event.get("text", "")), event.get("level") or "info")
        elif kind == "checkpoint":
            self.flush()  # everything up to the checkpoint is stored before the next step runs
            self._safe(store.add_event, self.job_id, f"checkpoint saved at step {event.get('step')}")

    def should_stop(self) -> bool:
        now = time.monotonic()
        if now - self._last_stop_check >= self.stop_check_interval:
            self._last_stop_check = now
            try:
                self._stop_state = store.control_state(self.job_id, self.host, self.pid)
            except Exception:  # the database is briefly unreachable: keep training
                log.exception("job %s: could not read the cancel flag", self.job_id)
        return self._stop_state != "run"

    @property
    def stop_reason(self) -> str:
        """'run', 'cancel' (the user asked) or 'lost' (the job is no longer this worker's)."""
        return self._stop_state

    def note_stop(self, reason: str) -> None:
        """A stop decided by another listener of the job (rank 0 of a data-parallel run)."""
        self._stop_state = reason

    # ---- internals -------------------------------------------------------------------------
    def _on_log(self, event: dict[str, Any]) -> None:
        step = int(event.get("step") or 0)
        split = str(event.get("split") or "train")
        metrics = event.get("metrics") or {}
        with self._lock:
            for name, value in metrics.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                self._points.append(
                    {"step": step, "epoch": event.get("epoch"), "split": split, "name": name, "value": value}
                )
                if split == "eval":
                    self._consider_best(bare(name), float(value))
            if event.get("progress") is not None:
                self._progress["progress"] = float(event["progress"])
            if "eta_seconds" in event:
                self._progress["eta_seconds"] = event["eta_seconds"]
            due = len(self._points) >= self.flush_every
            due = due or time.monotonic() - self._last_flush >= self.flush_interval
        if due:
            self.flush()

    def _consider_best(self, name: str, value: float) -> None:
        rank = self._rank(name)
        if rank == len(self._best_candidates) or not math.isfinite(value):
            return  # not a metric that runs are ranked by
        current = self._rank(self.best_name) if self.best_name else len(self._best_candidates) + 1
        if rank > current:
            return  # a preferred metric is already tracked
        if (
            rank < current
            or self.best_value is None
            or (value < self.best_value if lower_is_better(name) else value > self.best_value)
        ):
            self.best_name, self.best_value = name, value
            self._progress["best_metric_name"] = name
            self._progress["best_metric_value"] = value

    def _rank(self, name: str | None) -> int:
        try:
            return self._best_candidates.index(name)
        except ValueError:
            return len(self._best_candidates)

    def flush(self) -> None:
        with self._lock:
            points, self._points = self._points, []
            progress, self._progress = self._progress, {}
            self._last_flush = time.monotonic()
        try:
            owner = (self.host, self.pid)
            if points:
                store.add_metric_points(self.job_id, points, owner=owner)
            if progress:
                store.update_running(self.job_id, owner=owner, **progress)
        except Exception:  # keep them for the next flush rather than lose them
            log.exception("job %s: could not store %d metric points", self.job_id, len(points))
            with self._lock:
                self._points = points + self._points
                self._progress = {**progress, **self._progress}

    def _safe(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("job %s: could not write to the job log", self.job_id)


class Heartbeat:
    """Stamps the job's heartbeat every `interval` seconds from a daemon thread."""

    def __init__(self, job_id: int, host: str, pid: int, interval: float):
        self.job_id, self.host, self.pid, self.interval = job_id, host, pid, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=max(self.interval, 1.0) + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not store.heartbeat(self.job_id, self.host, self.pid):
                    return  # the job is no longer ours; the listener stops training
            except Exception:
                log.exception("job %s: heartbeat failed", self.job_id)
