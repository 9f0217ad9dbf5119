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

from neat.errors import UserError
from neat.spec import RunSpec

# ---- jobs ---------------------------------------------------------------------------------------


def _api():
    from jobs import api  # imported on first use: the app starts fast

    return api


def _viewer(viewer):
    from app.access import viewer_of

    return viewer if viewer is not None else viewer_of(None)


def list_jobs(viewer=None) -> list[dict]:
    """The jobs `viewer` (an app.access.Viewer; None: no request) may see, newest first."""
    viewer = _viewer(viewer)
    if viewer.sees_all:
        return _api().list_jobs()
    return _api().list_jobs(owner=viewer.name) if viewer.name else []


def get_job(job_id: int, viewer=None) -> dict:
    """One job, if `viewer` may see it; another account's job reads as one that does not exist."""
    job = _api().get_job(int(job_id))
    if not _viewer(viewer).may_see(job):
        raise _api().JobNotFound(f"job {int(job_id)} does not exist")
    return job


def job_spec(job: dict) -> RunSpec | None:
    spec = job.get("spec")
    return RunSpec.from_dict(spec) if isinstance(spec, dict) else None


def get_metrics(job_id: int, viewer=None) -> list[dict]:
    """Metric points as dicts with step, epoch, split, name, value."""
    get_job(job_id, viewer)
    return _api().get_metrics(int(job_id))


def get_logs(job_id: int, tail: int = 200, viewer=None) -> str:
    get_job(job_id, viewer)
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


def _allowed(specs: list[RunSpec]) -> None:
    """Refuse what the app may not queue (remote code it may not run, paths it may not read)."""
    from app.access import spec_problems
    from neat.errors import SpecError

    problems = [p for spec in specs for p in spec_problems(spec)]
    if problems:
        raise SpecError(problems)


def submit(spec: RunSpec, viewer=None) -> int:
    _allowed([spec])
    return int(_api().submit(spec, owner=_viewer(viewer).name))


def submit_many(specs: list[RunSpec], name: str, viewer=None) -> list[int]:
    """Linked jobs (a sweep) that the Compare tab can show together."""
    _allowed(specs)
    return [int(i) for i in _api().submit_sweep(specs, name, owner=_viewer(viewer).name)]


def job_action(action: str, job_id: int, viewer=None):
    """cancel / resume / retry / delete of a job `viewer` may see; returns what jobs.api returns."""
    if action not in ("cancel", "resume", "retry", "delete"):
        raise ValueError(action)
    job = get_job(job_id, viewer)
    if action in ("resume", "retry") and (spec := job_spec(job)) is not None:
        _allowed([spec])  # e.g. remote code switched off since the job was queued
    return getattr(_api(), action)(int(job_id))


def output_dir(job: dict) -> Path | None:
    out = job.get("output_dir")
    return Path(out) if out else None


# ---- models: describe without loading weights -----------------------------------------------------


def describe_linear_modules(
    name_or_path: str, trust_remote_code: bool = False, task: str = "classification"
) -> list[tuple[str, int, int]]:
    """(name, in, out) of the model's linear layers that an adapter may target (not the task head)."""
    from neat.budget import describe_linear_modules as describe

    if trust_remote_code:
        from app.access import no_remote_code_here

        raise no_remote_code_here()
    return describe(name_or_path, task, trust_remote_code)


def param_budget(
    name_or_path: str, task: str, method: dict, num_labels: int = 2, trust_remote_code: bool = False
) -> dict:
    """Trainable parameters of NEAT / LoRA (at the same rank) / full FT: keys neat, lora, full, head."""
    from neat.budget import param_budget as budget
    from neat.spec import MethodSpec

    if trust_remote_code:
        from app.access import no_remote_code_here

        raise no_remote_code_here()
    return budget(
        name_or_path, task, MethodSpec(**method), num_labels=num_labels, trust_remote_code=trust_remote_code
    )


def fit_markdown(spec: RunSpec, num_labels: int = 2) -> str:
    """The fit check's sentence (memory and time before launch), warnings in bold; "" if unknown."""
    from neat.fit import estimate

    try:
        est = estimate(spec, train_rows=spec.dataset.max_rows, num_labels=num_labels)
    except Exception:  # noqa: BLE001 - an unreadable model is reported by the parameter line
        return ""
    text = "**Fit check** — " + est.sentence() + "."
    for warning in est.warnings():
        text += f" **Warning: {warning}.**"
    return text


@functools.lru_cache(maxsize=32)
def default_targets(name_or_path: str) -> tuple[str, ...]:
    """The architecture's default target modules (query/value for BERT, q/v_proj for Llama...)."""
    from neat.budget import default_targets as targets

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
        from jobs.devices import busy_gpus
        from neat.inference import Predictor, read_spec

        if read_spec(folder).model.trust_remote_code:  # its model code would run in this process
            from app.access import no_remote_code_here

            raise no_remote_code_here()
        running = _api().list_jobs(status="running")
        return Predictor.load(folder, busy_gpus=busy_gpus(job.get("device") for job in running))

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
