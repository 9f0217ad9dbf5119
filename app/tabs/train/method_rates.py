"""The form's method numbers follow the method and the task: switching NEAT -> full
fine-tuning, or a model that makes the run a chat run, sets that method's own defaults for
that task (neat/engine/defaults.py) -- unless the user typed a number of their own.

Full fine-tuning at NEAT's 5e-3 would wreck the model in a few steps, and LoRA's and NEAT's
best rates differ (benchmarks/RESULTS.md, "Quality suite"), so a rate left at a shipped default
is taken to mean "the default", and moves with it; any other value is the user's and stays.
"""

from __future__ import annotations

import functools
from typing import Any

from app import backend
from app.sweeps import METHOD_NAMES
from app.tabs.train.form import FIELD_BY_KEY, FORM_DEFAULTS
from app.tabs.train.presets import same_value, shown_value

# form key -> (section, spec field) of the method's defaults
FOLLOWED = {
    "learning_rate": ("training", "learning_rate"),
    "head_learning_rate": ("training", "head_learning_rate"),
    "scaling": ("method", "scaling"),
    "neat_init": ("method", "neat_init"),
}


def _defaults(task: str, method: str) -> dict[str, Any] | None:
    """form key -> value `method` sets by default for `task` (None: no defaults for the pair)."""
    try:
        fields = backend.method_defaults(task, method)
    except ValueError:
        return None
    return {key: fields[s][name] for key, (s, name) in FOLLOWED.items() if name in fields[s]}


@functools.cache  # the shipped defaults do not change while the app runs
def _shipped(key: str) -> tuple[Any, ...]:
    """Every value a shipped default gives form field `key` (any method, any task)."""
    values = [FORM_DEFAULTS[key]]
    for task in backend.TASKS:
        for method in backend.METHODS:
            d = _defaults(task, method) or {}
            if key in d:
                values.append(d[key])
    return tuple(values)


def follow_method_defaults(values: dict) -> tuple[dict[str, Any], str]:
    """The form fields to change for the form's (method, task), and a line saying so ("" when
    nothing changes). A field moves only if it holds a shipped default value."""
    method, task = values.get("method") or "neat", values.get("task") or "classification"
    target = _defaults(task, method)
    if target is None:
        return {}, ""
    changes, lines = {}, []
    for key, value in target.items():
        current = values.get(key)
        if same_value(current, value) or not any(same_value(current, v) for v in _shipped(key)):
            continue
        changes[key] = value
        lines.append(f"{FIELD_BY_KEY[key].label} {shown_value(key, current)} → {shown_value(key, value)}")
    if not lines:
        return {}, ""
    name = METHOD_NAMES.get(method, method)
    return changes, (
        f"**{name[:1].upper() + name[1:]}** for **{task}** starts from its own defaults: "
        + ", ".join(lines)
        + ". A number you type yourself stays."
    )
