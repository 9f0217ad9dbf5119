"""The Train form's sweep: comma-separated value lists (learning rate, scaling, r, depth,
method, seeds) and the seeds count of "compare with LoRA at equal budget", turned into the
runs Start queues as one sweep, with the grid's size shown before anything is queued.

- No list and one seed: not a sweep (start.py queues the spec, or the spec and its LoRA twin).
- Compare with LoRA and N seeds: the spec and its LoRA twin (equal budget, LoRA's defaults)
  on seeds s, s+1, ... s+N-1 (s: the form's seed, 42 by default).
- Lists: their grid (backend.sweep_plan; each method at its own defaults unless swept); with
  compare on, every NEAT point gets its LoRA twin (the swept learning rate when the learning
  rate is swept), and the seeds count fills the seed list when that list is empty.
At most MAX_SWEEP_RUNS runs; past that nothing is queued and the error says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from app import backend
from app.backend import FieldError, RunSpec, UserError
from app.tabs.train.form import FORM_KEYS, SWEEP_LISTS

MAX_SWEEP_RUNS = 64  # neat.engine.sweep.MAX_SWEEP_RUNS, through the backend's errors
MAX_SEEDS = 5
LISTS = SWEEP_LISTS  # form key -> (spec field it sweeps, label, placeholder)
SEEDS_FIELD = "method.seeds"  # where an error on the seeds count is shown (the method section)
SWEEP_FIELD = "sweep"


def value_lists(values: dict) -> dict[str, str]:
    """{spec field: what was typed} for the lists that are not empty."""
    out = {}
    for key, (path, _, _) in LISTS.items():
        text = str(values.get(key) or "").strip()
        if text:
            out[path] = text
    return out


def seeds_count(values: dict) -> int:
    """The compare seeds count (1-5); SpecError-worthy values raise a FieldError."""
    raw = values.get("compare_seeds")
    try:
        count = float(raw if raw not in (None, "") else 1)
    except (TypeError, ValueError):
        raise FieldError(SEEDS_FIELD, f"must be a whole number from 1 to {MAX_SEEDS}, got {raw!r}") from None
    if not count.is_integer() or not 1 <= count <= MAX_SEEDS:
        raise FieldError(SEEDS_FIELD, f"must be a whole number from 1 to {MAX_SEEDS}, got {raw}")
    return int(count)


def requested(values: dict) -> bool:
    """True when the form asks for more than the spec (and its one LoRA twin)."""
    if value_lists(values):
        return True
    try:
        return bool(values.get("compare_lora")) and seeds_count(values) > 1
    except FieldError:
        return bool(values.get("compare_lora"))


def plan(values: dict, spec: RunSpec, twin: Callable[[RunSpec], RunSpec]) -> list[RunSpec]:
    """The sweep's runs; raises SpecError (fields `sweep`, `method.seeds`) when it cannot be
    queued. `twin(spec)` is the LoRA twin of a NEAT run at an equal budget (start.py)."""
    from app.backend import SpecError

    compare = bool(values.get("compare_lora"))
    try:
        seeds = seeds_count(values) if compare else 1
    except FieldError as exc:
        raise SpecError([exc]) from None
    lists = value_lists(values)
    if compare and seeds > 1 and "training.seed" not in lists:
        lists["training.seed"] = ", ".join(str(spec.training.seed + i) for i in range(seeds))
    try:
        points = backend.sweep_plan(spec, lists)
    except SpecError as exc:
        raise SpecError([_as_sweep_error(e) for e in exc.errors]) from None
    runs = list(points)
    if compare:
        runs = []
        for point in points:
            runs.append(point)
            if point.method.name == "neat":
                lora = twin(point)
                lora.name = _twin_name(point.name)
                if "training.learning_rate" in lists:
                    lora.training.learning_rate = point.training.learning_rate
                if not any(_same_run(lora, other) for other in points):
                    runs.append(lora)
    if len(runs) > MAX_SWEEP_RUNS:
        raise SpecError(
            [FieldError(SWEEP_FIELD, f"{len(runs)} runs is more than the {MAX_SWEEP_RUNS} a sweep may queue")]
        )
    return runs


def _twin_name(name: str) -> str:
    """`run-neat-s43` -> `run-lora-s43`: the twin's name says its point like the NEAT run's."""
    at = name.rfind("-neat")
    return f"{name[:at]}-lora{name[at + 5 :]}" if at >= 0 else f"{name}-lora"


def _same_run(a: RunSpec, b: RunSpec) -> bool:
    left, right = a.to_dict(), b.to_dict()
    left.pop("name"), right.pop("name")
    return left == right


def _as_sweep_error(error: FieldError) -> FieldError:
    """A list's error, named by its label in the Sweep accordion."""
    labels = {path: label for path, label, _ in LISTS.values()}
    if error.field in labels:
        return FieldError(SWEEP_FIELD, f"{labels[error.field]}: {error.message}")
    return error if error.field == SWEEP_FIELD else FieldError(SWEEP_FIELD, str(error))


def group_name(spec: RunSpec, runs: list[RunSpec], values: dict) -> str:
    if not requested(values):
        return f"{spec.name} vs LoRA"
    return f"{spec.name} sweep ({len(runs)} runs)"


def size_text(runs: list[RunSpec] | None, error: str | None = None) -> str:
    """What the Sweep accordion says before anything is queued."""
    if error:
        return f"⚠ {error}"
    if not runs:
        return ""
    methods = sorted({r.method.name for r in runs})
    return f"**{len(runs)} run{'s' if len(runs) != 1 else ''} will be queued** ({', '.join(methods)})."


def size_line(values: dict, runs_of: Callable[[dict], list[RunSpec]]) -> str:
    """The Sweep accordion's line for the form `values` ("" when no sweep is asked for)."""
    if not requested(values):
        return ""
    try:
        return size_text(runs_of(values))
    except UserError as exc:
        errors = getattr(exc, "errors", None) or [exc]
        return size_text(None, "; ".join(getattr(e, "message", str(e)) for e in errors))


# ---- components and events ------------------------------------------------------------------------


def build(defaults: dict) -> tuple[dict[str, Any], gr.Markdown]:
    """The Sweep accordion's list boxes (keyed like the form) and its grid-size line."""
    boxes = {}
    with gr.Accordion("Sweep", open=False, elem_id="sweep"):
        gr.Markdown(
            "Comma-separated values queue the grid of every combination as one sweep (at most "
            f"{MAX_SWEEP_RUNS} runs); an empty box keeps the form's value. Each method runs at its own "
            "defaults unless its values are listed here.",
            padding=True,
        )
        with gr.Row():
            for key, (_, label, placeholder) in LISTS.items():
                boxes[key] = gr.Textbox(
                    value=defaults[key], label=label, placeholder=placeholder, elem_id=key.replace("_", "-")
                )
        size = gr.Markdown("", elem_id="sweep-size", padding=True)
    return boxes, size


def wire(tab, runs_of: Callable[[dict], list[RunSpec]]) -> None:
    """Show the grid's size whenever a list, the compare option or its seeds change."""
    size = tab.extra["sweep_size"]
    keys = [*LISTS, "compare_lora", "compare_seeds"]

    def on_change(*args):
        return size_line(dict(zip(FORM_KEYS, args)), runs_of)

    gr.on([tab.form[k].change for k in keys], on_change, tab.inputs(), size, show_progress="hidden")
