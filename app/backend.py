"""The app's only door to the job queue and the engine: thin, fast, never training in-process.

Everything here is called from Gradio handlers, so each call must return quickly: reading
the job store, asking the engine to describe a model from its config (meta device, no
weights), or loading a finished run for the Playground (cached per job, once).
Rows from jobs.api are normalised to plain dicts so the tabs do not depend on ORM objects.
"""

from __future__ import annotations

import datetime as _dt
import functools
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from neat.engine.errors import UserError
from neat.engine.metrics import is_bookkeeping, is_quality_metric  # noqa: F401 - for the tabs
from neat.engine.spec import RunSpec

# ---- jobs ---------------------------------------------------------------------------------------


def _api():
    from jobs import api  # imported on first use: the app starts fast

    return api


def list_jobs() -> list[dict]:
    return _api().list_jobs()


def get_job(job_id: int) -> dict:
    return _api().get_job(int(job_id))


def job_spec(job: dict) -> RunSpec | None:
    spec = job.get("spec")
    return RunSpec.from_dict(spec) if isinstance(spec, dict) else None


def get_metrics(job_id: int) -> list[dict]:
    """Metric points as dicts with step, epoch, split, name, value."""
    return _api().get_metrics(int(job_id))


def get_logs(job_id: int, tail: int = 200) -> str:
    lines = []
    for item in _api().get_logs(int(job_id), tail=tail):
        try:
            stamp = _dt.datetime.fromisoformat(item["time"]).strftime("%H:%M:%S ")
        except (TypeError, ValueError):
            stamp = ""
        prefix = "" if item.get("level", "info") == "info" else f"[{item['level']}] "
        lines.append(f"{stamp}{prefix}{item.get('text', '')}")
    return "\n".join(lines)


# Set by `python -m app`: a callable saying why queued jobs may not run (the worker this app
# started has exited, or none was started), or None when all is well.
worker_problem = None


def worker_notice(jobs: list[dict]) -> str:
    """A line for the Jobs tab when jobs are queued but this app's worker cannot run them."""
    if worker_problem is None or not any(j.get("status") == "queued" for j in jobs):
        return ""
    problem = worker_problem()
    return f"⚠ {problem}" if problem else ""


def submit(spec: RunSpec) -> int:
    return int(_api().submit(spec))


def submit_many(specs: list[RunSpec], name: str) -> list[int]:
    """Linked jobs (a sweep) that the Compare tab can show together."""
    return [int(i) for i in _api().submit_sweep(specs, name)]


def job_action(action: str, job_id: int):
    """cancel / resume / retry / delete; returns what jobs.api returns (e.g. a new job id)."""
    if action not in ("cancel", "resume", "retry", "delete"):
        raise ValueError(action)
    return getattr(_api(), action)(int(job_id))


def output_dir(job: dict) -> Path | None:
    out = job.get("output_dir")
    return Path(out) if out else None


# ---- models: describe without loading weights -----------------------------------------------------


def describe_linear_modules(
    name_or_path: str, trust_remote_code: bool = False, task: str = "classification"
) -> list[tuple[str, int, int]]:
    """(name, in, out) of the model's linear layers that an adapter may target (not the task head)."""
    from neat.engine.budget import describe_linear_modules as describe

    return describe(name_or_path, task, trust_remote_code)


def param_budget(
    name_or_path: str, task: str, method: dict, num_labels: int = 2, trust_remote_code: bool = False
) -> dict:
    """Trainable parameters of NEAT / LoRA (at the same rank) / full FT: keys neat, lora, full, head."""
    from neat.engine.budget import param_budget as budget
    from neat.engine.spec import MethodSpec

    return budget(
        name_or_path, task, MethodSpec(**method), num_labels=num_labels, trust_remote_code=trust_remote_code
    )


@functools.lru_cache(maxsize=32)
def default_targets(name_or_path: str) -> tuple[str, ...]:
    """The architecture's default target modules (query/value for BERT, q/v_proj for Llama...)."""
    from neat.engine.budget import default_targets as targets

    try:
        return tuple(targets(name_or_path))
    except (UserError, ValueError):  # no default known or unreadable: the user picks
        return ()


def module_choices(modules: list[tuple[str, int, int]]) -> list[str]:
    """Target-module names to offer: each kind of linear layer once, by its path inside a block.

    `bert.encoder.layer.3.attention.self.query` -> `query` when that is unambiguous, else the
    shortest suffix that still names only that kind (e.g. `attention.output.dense`). Layers
    outside the repeated blocks (pooler, task head) are offered by their full name.
    """
    import re

    kinds: list[str] = []
    for name, _, _ in modules:
        m = re.search(r"\.\d+\.(.+)$", name)
        kind = m.group(1) if m else name
        if kind not in kinds:
            kinds.append(kind)
    names = [n for n, _, _ in modules]
    chosen = []
    for kind in kinds:
        parts = kind.split(".")
        wanted = {n for n in names if n == kind or re.search(rf"\.\d+\.{re.escape(kind)}$", n)}
        pick = kind
        for k in range(1, len(parts) + 1):
            suffix = ".".join(parts[-k:])
            matched = {n for n in names if n == suffix or n.endswith("." + suffix)}
            if matched == wanted:
                pick = suffix
                break
        chosen.append(pick)
    skip = ("classifier", "score", "lm_head", "pooler")
    return [c for c in chosen if not set(c.split(".")) & set(skip)]


# ---- the Playground's loaded runs -------------------------------------------------------------------


class PredictorCache:
    """Loaded Predictors by output folder: loading takes seconds, predicting milliseconds.

    Keeps the most recent few (each holds a model in memory); loading one folder twice at the
    same time is avoided with a per-folder lock.
    """

    def __init__(self, capacity: int = 3, loader=None):
        self.capacity = capacity
        self._loader = loader
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def _load(self, folder: str):
        if self._loader is not None:
            return self._loader(folder)
        from neat.engine.inference import Predictor

        return Predictor.load(folder)

    def get(self, folder: str | Path):
        key = str(Path(folder).resolve())
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            predictor = self._load(key)
            with self._lock:
                self._items[key] = predictor
                self._items.move_to_end(key)
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
            return predictor

    def drop(self, folder: str | Path) -> None:
        with self._lock:
            self._items.pop(str(Path(folder).resolve()), None)

    def __contains__(self, folder) -> bool:
        return str(Path(folder).resolve()) in self._items


PREDICTORS = PredictorCache()


def user_message(exc: BaseException) -> str:
    """What to show a person for an exception: the message of a UserError, else a short line."""
    if isinstance(exc, UserError):
        return str(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
