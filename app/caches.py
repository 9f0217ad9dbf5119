"""Everything the app process keeps between requests, in one place.

Describing a model, reading a dataset, checking it and loading a finished run take from
milliseconds to seconds, and the form asks again on every change: each answer is kept here,
keyed by what it depends on (a file's modification time included), and bounded in size.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from app import backend, paths


# ---- models -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def linear_modules(ref: str, trust_remote_code: bool) -> tuple[tuple[str, int, int], ...]:
    return tuple(backend.describe_linear_modules(ref, trust_remote_code=trust_remote_code))


@functools.lru_cache(maxsize=32)
def default_targets(ref: str) -> tuple[str, ...]:
    return backend.default_targets(ref)


@functools.lru_cache(maxsize=4)
def tokenizer(ref: str, task: str):
    return backend.load_tokenizer(ref, task)


# ---- datasets ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=6)
def _raw(source: str, hub_split: str, stamp: float):
    return backend.load_raw(source, hub_split)


def _stamp(source: str) -> float:
    path = Path(source).expanduser()
    return path.stat().st_mtime if path.exists() else 0.0


def raw_dataset(source: str, hub_split: str = "train"):
    """The dataset as read, once per file version. A server path outside the allowed roots
    (app/paths.py) is never read: DatasetError, in the same words whether it exists or not."""
    refused = paths.check_ref(source, "dataset.source", "dataset", builtin=True)
    if refused:
        raise backend.DatasetError(refused[0].message)
    return _raw(source, hub_split, _stamp(source))


class DatasetChecks:
    """Dataset check results by what they depend on: task, source (and its version), split,
    validation file, column mapping, and the model and max_length (token lengths)."""

    def __init__(self, capacity: int = 64):
        self.capacity = capacity
        self._items: dict[str, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(spec) -> str:
        d = spec.dataset
        return json.dumps(
            [
                spec.task,
                d.source,
                _stamp(d.source),
                d.hub_split,
                d.validation_source,
                d.columns.__dict__,
                spec.model.name_or_path,
                spec.model.trust_remote_code,
                spec.training.max_length,
            ],
            sort_keys=True,
            default=str,
        )

    def get(self, key: str):
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, result) -> None:
        with self._lock:
            if len(self._items) > self.capacity:
                self._items.clear()
            self._items[key] = result


CHECKS = DatasetChecks()


# ---- finished runs (Playground and Insight) ---------------------------------------------------------
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
        return backend.load_predictor(folder)

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
