"""Sweeps: a grid of runs from one spec and lists of values for some of its fields.

`parse_value_list("1e-3, 5e-3", "float")` reads what a person typed; `expand_grid(spec, axes)`
builds one RunSpec per point of the cartesian product, named after the point
(`run-lora-lr0.001-s43`). Each method runs at its OWN defaults (neat/engine/defaults.py)
where the person set nothing for it: when `method.name` is swept, the points of a method other
than the spec's start from that method's defaults (LoRA's learning rate for a LoRA point),
and only the swept values override them. A field that means nothing to a method (depth or
scaling for LoRA, the adapter's shape for full fine-tuning) is not applied to it, so the
duplicates that would differ only there collapse into one run.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from typing import Any

from neat.engine.defaults import with_method_defaults
from neat.engine.errors import FieldError, SpecError
from neat.engine.spec import METHODS, RunSpec

MAX_SWEEP_RUNS = 64
# Past this many points the product is refused before any spec is built (a typo such as a
# pasted column of numbers should not stall the form while 10^6 copies are made).
_MAX_PRODUCT = 4096

# Fields that mean nothing to a method: not applied to its points.
_IGNORED_BY = {
    "neat": {"method.lora_alpha", "method.lora_dropout"},
    "lora": {"method.depth", "method.scaling", "method.neat_init", "method.act_fn"},
    "full": {
        "method.r",
        "method.depth",
        "method.scaling",
        "method.neat_init",
        "method.act_fn",
        "method.lora_alpha",
        "method.lora_dropout",
        "method.target_modules",
        "method.layers_to_transform",
    },
}
# How a run name shows each swept field (others: the field's own name).
_SHORT = {
    "training.learning_rate": "lr",
    "training.head_learning_rate": "hlr",
    "training.seed": "s",
    "method.scaling": "sc",
    "method.r": "r",
    "method.depth": "d",
    "method.name": "",
}
_KINDS = {"float": float, "int": int, "str": str, "bool": bool}


def parse_value_list(text: str, kind: str | type, field: str = "sweep") -> list:
    """`text` split at commas into values of `kind` ("float", "int", "str" or the type);
    duplicates dropped, order kept. Raises SpecError naming `field` and the bad item."""
    convert = _KINDS.get(kind, kind) if isinstance(kind, str) else kind
    if convert not in _KINDS.values():
        raise ValueError(f"cannot sweep values of kind {kind!r}")
    items = [item.strip() for item in str(text or "").split(",")]
    if not any(items):
        raise SpecError([FieldError(field, "give at least one value (comma-separated)")])
    values: list = []
    for position, item in enumerate(items, 1):
        if not item:
            raise SpecError([FieldError(field, f"item {position} of {text!r} is empty")])
        value = _convert(item, convert)
        if value is None:
            what = {float: "a number", int: "a whole number", bool: "true or false"}.get(convert, "a value")
            raise SpecError([FieldError(field, f"{item!r} (item {position}) is not {what}")])
        if value not in values:
            values.append(value)
    return values


def _convert(item: str, convert: type) -> Any:
    try:
        if convert is bool:
            return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
                item.lower()
            )
        if convert is int:
            number = float(item)
            return int(number) if number.is_integer() else None
        if convert is float:
            number = float(item)
            return number if math.isfinite(number) else None
        return item
    except ValueError:
        return None


def field_kind(path: str) -> str:
    """The type name ("float", "int", "str", "bool") of a scalar spec field such as
    `training.learning_rate`; SpecError when there is no such field or it is not a scalar."""
    cls, parts = RunSpec, path.split(".")
    for depth, part in enumerate(parts):
        known = {f.name: f for f in dataclasses.fields(cls)}
        if part not in known:
            raise SpecError([FieldError(path, "no such spec field to sweep")])
        default = getattr(cls(), part)
        if dataclasses.is_dataclass(default):
            cls = type(default)
            continue
        if depth != len(parts) - 1:
            raise SpecError([FieldError(path, "no such spec field to sweep")])
        base = str(known[part].type).replace(" | None", "")
        if base not in _KINDS:
            raise SpecError([FieldError(path, f"a {base} field cannot be swept")])
        return base
    raise SpecError([FieldError(path, "name a field such as training.learning_rate, not a section")])


def grid_size(axes: dict[str, list]) -> int:
    """The number of points of the cartesian product (before collapsing duplicates)."""
    return math.prod(len(values) for values in axes.values()) if axes else 1


def expand_grid(spec: RunSpec, axes: dict[str, list]) -> list[RunSpec]:
    """One validated RunSpec per point of the product of `axes` ({"training.learning_rate":
    [...], "method.name": ["neat", "lora"], ...}); raises SpecError for an unknown field, a bad
    value or more than MAX_SWEEP_RUNS runs."""
    axes = {path: list(values) for path, values in axes.items()}
    for path, values in axes.items():
        field_kind(path)
        if not values:
            raise SpecError([FieldError(path, "give at least one value")])
    for method in axes.get("method.name", []):
        if method not in METHODS:
            raise SpecError([FieldError("method.name", f"{method!r} is not one of {', '.join(METHODS)}")])
    size = grid_size(axes)
    if size > _MAX_PRODUCT:
        raise _too_many(size)
    runs: list[RunSpec] = []
    seen: set[str] = set()
    for point in itertools.product(*axes.values()):
        run = _point_spec(spec, dict(zip(axes, point)))
        key = _identity(run)
        if key not in seen:
            seen.add(key)
            runs.append(run)
    if len(runs) > MAX_SWEEP_RUNS:
        raise _too_many(len(runs))
    _validate(runs)
    return runs


def _too_many(count: int) -> SpecError:
    return SpecError(
        [
            FieldError(
                "sweep", f"{count} runs is more than the {MAX_SWEEP_RUNS} a sweep may queue; shorten a list"
            )
        ]
    )


def _point_spec(spec: RunSpec, assignment: dict[str, Any]) -> RunSpec:
    method = assignment.get("method.name", spec.method.name)
    # A method other than the spec's starts from its own defaults, not the spec's numbers.
    run = with_method_defaults(spec, method) if method != spec.method.name else copy.deepcopy(spec)
    applied = {}
    for path, value in assignment.items():
        if path in _IGNORED_BY.get(method, ()):
            continue
        _set(run, path, value)
        applied[path] = value
    base = spec.name
    if "method.name" in applied:  # `run-neat` swept over methods: `run-neat`, `run-lora`
        base = base.removesuffix(f"-{spec.method.name}") or base
    run.name = point_name(base, applied)
    return run


def _set(spec: RunSpec, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target = spec
    for part in parents:
        target = getattr(target, part)
    setattr(target, last, value)


def point_name(base: str, assignment: dict[str, Any]) -> str:
    """`base` and the point's values: `run-lora-lr0.001-s43`."""
    parts = [base]
    for path, value in assignment.items():
        short = _SHORT.get(path, path.rsplit(".", 1)[-1])
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(f"{short}{shown}" if short else shown)
    return "-".join(parts)


def _identity(spec: RunSpec) -> str:
    data = spec.to_dict()
    data.pop("name")
    return repr(data)


def _validate(runs: list[RunSpec]) -> None:
    errors: dict[str, FieldError] = {}
    for run in runs:
        for error in run.check():
            errors.setdefault(str(error), error)
    if errors:
        raise SpecError(list(errors.values()))
