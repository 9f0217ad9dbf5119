"""The Train form as plain data: form values <-> RunSpec, presets, and where errors go.

The Gradio components live in app/tabs/train/layout.py; this module knows nothing about Gradio, so
the mapping from what a person typed to the spec a job runs is unit-tested on its own.
A form is a dict keyed by FORM_KEYS; `form_to_spec` returns the spec plus a FieldError for
every value that is not even of the right type, and `RunSpec.check()` adds the rest.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import backend
from app.backend import (
    BUILTIN_DATASETS,
    EMBEDDED_MODELS,
    ColumnMap,
    DataSpec,
    FieldError,
    MethodSpec,
    ModelSpec,
    RunSpec,
    TrainingSpec,
)

MODEL_EMBEDDED = "Embedded"
MODEL_OTHER = "Local folder or hub id"
MODEL_KINDS = (MODEL_EMBEDDED, MODEL_OTHER)
DATA_BUILTIN = "Built-in"
DATA_UPLOAD = "Upload"
DATA_OTHER = "Hub id or path"
DATA_KINDS = (DATA_BUILTIN, DATA_UPLOAD, DATA_OTHER)
NO_COLUMN = ""  # the optional text-pair column left unset


@dataclass(frozen=True)
class Field:
    """One value of the form: its key, the spec field it fills (dotted; None: the form's own),
    the label errors name it by, the value a new user starts from, the form section showing
    its errors, and how it converts:
      text      stripped; empty means the default       exact  stripped, as typed
      optional  stripped; empty means unset (None)      bool   a checkbox
      int/float a number, required                      list   names (target modules)
      int?/float?  a number; empty or 0 means `off` (None, or -1 for max_steps)
    """

    key: str
    spec: str | None
    label: str
    default: Any
    section: str
    kind: str = "text"
    off: Any = None


# Every field of the form, in the order the form lists them. The method's own numbers
# (learning rates, scaling) come from the engine's per-method defaults (neat/engine/defaults.py).
_NEAT_DEFAULTS = backend.method_defaults("classification", "neat")
_NEAT_SCALING = _NEAT_DEFAULTS["method"]["scaling"]
_NEAT_LR = _NEAT_DEFAULTS["training"]["learning_rate"]
_NEAT_HEAD_LR = _NEAT_DEFAULTS["training"]["head_learning_rate"]
# The Sweep accordion's value lists: form key -> (spec field it sweeps, label, placeholder).
SWEEP_LISTS = {
    "sweep_learning_rate": ("training.learning_rate", "Learning rates", "1e-3, 5e-3, 1e-2"),
    "sweep_scaling": ("method.scaling", "Scalings", "0.5, 1, 2"),
    "sweep_r": ("method.r", "Ranks r", "4, 8, 16"),
    "sweep_depth": ("method.depth", "Depths", "0, 1, 2"),
    "sweep_method": ("method.name", "Methods", "neat, lora"),
    "sweep_seed": ("training.seed", "Seeds", "42, 43, 44"),
}
F = Field  # the table below reads as one line per field
# fmt: off
FIELDS: tuple[Field, ...] = (
    F("name", "name", "Run name", "", "model", "exact"),
    F("model_kind", None, "Model source", MODEL_EMBEDDED, "model"),
    F("model_embedded", "model.name_or_path", "Model", "embedded:minilm", "model", "exact"),
    F("model_path", "model.name_or_path", "Model", "", "model", "exact"),
    F("trust_remote_code", "model.trust_remote_code", "Trust remote code", False, "model", "bool"),
    F("task", "task", "Task", "classification", "model", "exact"),
    F("data_kind", None, "Dataset source", DATA_BUILTIN, "dataset"),
    F("data_builtin", "dataset.source", "Dataset", "rotten_tomatoes", "dataset", "exact"),
    F("data_upload", "dataset.source", "Dataset", "", "dataset", "exact"),  # the stored copy
    F("data_ref", "dataset.source", "Dataset", "", "dataset", "exact"),  # hub id or server path
    F("hub_split", "dataset.hub_split", "Hub split", "train", "dataset"),
    F("validation_source", "dataset.validation_source", "Validation file", "", "dataset", "optional"),
    F("test_source", "dataset.test_source", "Test file", "", "dataset", "optional"),
    F("col_text", "dataset.columns.text", "Text column", "text", "dataset"),
    F("col_text_pair", "dataset.columns.text_pair", "Second text column", NO_COLUMN, "dataset", "optional"),
    F("col_label", "dataset.columns.label", "Label column", "label", "dataset"),
    F("col_prompt", "dataset.columns.prompt", "Prompt column", "prompt", "dataset"),
    F("col_response", "dataset.columns.response", "Response column", "response", "dataset"),
    F("col_image", "dataset.columns.image", "Image column", "image", "dataset"),
    # a chat column (list of {role, content}); overrides prompt/response
    F("col_messages", "dataset.columns.messages", "Chat column", NO_COLUMN, "dataset", "optional"),
    F("validation_fraction", "dataset.validation_fraction", "Validation fraction", 0.1, "dataset", "float"),
    F("test_fraction", "dataset.test_fraction", "Test fraction", 0.0, "dataset", "float"),
    F("max_rows", "dataset.max_rows", "Max training rows", None, "dataset", "int?"),
    F("method", "method.name", "Method", "neat", "method"),
    F("r", "method.r", "Rank r", 8, "method", "int"),
    F("depth", "method.depth", "Depth", 0, "method", "int"),
    F("act_fn", "method.act_fn", "Activation", "relu", "method"),
    F("scaling", "method.scaling", "Scaling", _NEAT_SCALING, "method", "float"),
    F("neat_init", "method.neat_init", "NEAT initialisation", "calibrated", "method"),
    F("target_modules", "method.target_modules", "Target modules", [], "method", "list"),
    F("lora_alpha", "method.lora_alpha", "LoRA alpha", None, "method", "float?"),
    F("compare_lora", None, "Compare with LoRA at equal budget", False, "method", "bool"),
    F("compare_seeds", None, "Seeds to compare", 1, "method", "int"),  # app/tabs/train/sweep.py
    F("epochs", "training.epochs", "Epochs", 1.0, "training", "float"),
    F("max_steps", "training.max_steps", "Max steps", None, "training", "int?", off=-1),
    F("batch_size", "training.batch_size", "Batch size", 16, "training", "int"),
    F("grad_accum", "training.grad_accum", "Gradient accumulation", 1, "training", "int"),
    F("max_length", "training.max_length", "Max length", 128, "training", "int"),
    F("learning_rate", "training.learning_rate", "Adapter learning rate", _NEAT_LR, "training", "float"),
    F("head_learning_rate", "training.head_learning_rate", "Head learning rate", _NEAT_HEAD_LR, "training", "float"),  # noqa: E501
    F("warmup_ratio", "training.warmup_ratio", "Warmup ratio", 0.06, "training", "float"),
    F("weight_decay", "training.weight_decay", "Weight decay", 0.0, "training", "float"),
    F("eval_steps", "training.eval_steps", "Evaluation interval", 50, "training", "int"),
    F("logging_steps", "training.logging_steps", "Logging interval", 10, "training", "int"),
    F("seed", "training.seed", "Seed", 42, "training", "int"),
    F("precision", "training.precision", "Precision", "auto", "training"),
    # data-parallel processes, one per GPU; a job asking for N waits for a worker owning N GPUs
    F("num_devices", "training.num_devices", "Devices (GPUs)", 1, "training", "int"),
    F("save_merged", "training.save_merged", "Save a merged model", False, "training", "bool"),
    # the Sweep accordion's value lists (app/tabs/train/sweep.py); empty: not swept
    *(F(key, None, label, "", "training") for key, (_, label, _) in SWEEP_LISTS.items()),
)
# fmt: on
FIELD_BY_KEY = {f.key: f for f in FIELDS}
FORM_DEFAULTS: dict[str, Any] = {f.key: f.default for f in FIELDS}
FORM_KEYS = tuple(FORM_DEFAULTS)
# form key -> the spec field it fills (dotted, as in FieldError.field)
SPEC_FIELD = {f.key: f.spec for f in FIELDS if f.spec}
# the dataset column pickers, and the column role each one sets
COLUMN_KEYS = tuple(f.key for f in FIELDS if (f.spec or "").startswith("dataset.columns."))
COLUMN_ROLE = {key: SPEC_FIELD[key].rsplit(".", 1)[-1] for key in COLUMN_KEYS}
# which column pickers a task uses; the optional ones may be left unset (NO_COLUMN)
TASK_COLUMNS = {
    "classification": ("col_text", "col_text_pair", "col_label"),
    "causal-lm": ("col_prompt", "col_response", "col_messages"),
    "image-classification": ("col_image", "col_label"),
}
OPTIONAL_COLUMNS = tuple(key for key in COLUMN_KEYS if FIELD_BY_KEY[key].kind == "optional")
# The spec fields filled from one of several form keys, by the chosen source (model_ref, dataset_ref).
_SOURCES = ("model.name_or_path", "dataset.source")

# Human names for the fields, used in error messages shown next to them; the spec fields the
# form does not show are named too (a cloned spec may carry them).
FIELD_LABELS = {
    **{f.spec: f.label for f in FIELDS if f.spec},
    "method.lora_dropout": "LoRA dropout",
    "training.save_total_limit": "Checkpoints kept",
    "training.early_stopping_patience": "Early stopping patience",
    "training.metric_for_best": "Metric for the best checkpoint",
    "sweep": "Sweep",
    "method.seeds": "Seeds to compare",
}

# The form is drawn in sections; each shows the errors of its fields right under them.
SECTIONS = ("model", "dataset", "method", "training")
_SECTION_OF_SPEC = {f.spec: f.section for f in FIELDS if f.spec}


def section_of(field: str) -> str:
    """Which form section shows an error on `field` (a dotted spec name)."""
    if field in _SECTION_OF_SPEC:
        return _SECTION_OF_SPEC[field]
    head = field.split(".", 1)[0]
    if head in ("model", "task", "name", "spec"):
        return "model"
    return head if head in SECTIONS else "training"


def errors_by_section(errors: list[FieldError]) -> dict[str, list[FieldError]]:
    grouped: dict[str, list[FieldError]] = {s: [] for s in SECTIONS}
    for err in errors:
        grouped[section_of(err.field)].append(err)
    return grouped


def format_errors(errors: list[FieldError]) -> str:
    """Markdown list of errors, each naming its field the way the form labels it."""
    if not errors:
        return ""
    lines = []
    for err in errors:
        label = FIELD_LABELS.get(err.field, err.field)
        lines.append(f"- ⚠ **{label}** (`{err.field}`): {err.message}")
    return "\n".join(lines)


# ---- form -> spec ------------------------------------------------------------------------------


def _number(values, key, errors, kind=float, optional=False, off_if_zero=False):
    raw = values.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if optional:
            return None
        errors.append(FieldError(SPEC_FIELD[key], "must be a number"))
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        errors.append(FieldError(SPEC_FIELD[key], f"must be a number, got {raw!r}"))
        return None
    if math.isnan(number) or math.isinf(number):
        errors.append(FieldError(SPEC_FIELD[key], "must be a finite number"))
        return None
    if off_if_zero and number == 0:
        return None
    if kind is int:
        if not number.is_integer():
            errors.append(FieldError(SPEC_FIELD[key], f"must be a whole number, got {raw}"))
            return None
        return int(number)
    return number


def _text(values, key) -> str:
    value = values.get(key)
    return "" if value is None else str(value).strip()


def model_ref(values: dict) -> str:
    """The model the form names: an embedded:... name, or a folder / hub id."""
    if values.get("model_kind") == MODEL_EMBEDDED:
        return _text(values, "model_embedded")
    return _text(values, "model_path")


def dataset_ref(values: dict) -> str:
    kind = values.get("data_kind")
    if kind == DATA_BUILTIN:
        return _text(values, "data_builtin")
    if kind == DATA_UPLOAD:
        return _text(values, "data_upload")
    return _text(values, "data_ref")


def default_run_name(values: dict) -> str:
    model = model_ref(values).replace("embedded:", "")
    model = Path(model).name or model
    data = Path(dataset_ref(values)).stem or dataset_ref(values)
    data = re.sub(r"^[0-9a-f]{10}-", "", data)  # the upload's content-hash prefix
    method = values.get("method") or "neat"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model}-{data}-{method}").strip("-")[:60] or "run"


def _spec_value(f: Field, v: dict, errors: list[FieldError], optional: bool = False) -> Any:
    """The spec value of one form field (the default where the value is not even a number)."""
    if f.kind == "exact":
        return _text(v, f.key)
    if f.kind == "text":
        return _text(v, f.key) or f.default
    if f.kind == "optional":
        return _text(v, f.key) or None
    if f.kind == "bool":
        return bool(v.get(f.key))
    if f.kind == "list":
        return [str(t) for t in (v.get(f.key) or []) if str(t).strip()] or None
    if f.kind in ("int?", "float?"):
        kind = int if f.kind == "int?" else float
        number = _number(v, f.key, errors, kind, optional=True, off_if_zero=True)
        return f.off if number is None else number
    number = _number(v, f.key, errors, int if f.kind == "int" else float, optional=optional)
    return f.default if number is None else number


def form_to_spec(values: dict) -> tuple[RunSpec, list[FieldError]]:
    """Build the RunSpec the form describes; conversion errors are returned, not raised.

    Call `spec.check()` on the result (when there are no conversion errors) for the value
    checks the spec itself knows; `validate_form` does both.
    """
    v = {**FORM_DEFAULTS, **(values or {})}
    errors: list[FieldError] = []
    # spec values by the part of the spec they belong to ("" for the top level: name, task)
    parts: dict[str, dict] = {p: {} for p in ("", "model", "dataset", "columns", "method", "training")}
    steps_set = _spec_value(FIELD_BY_KEY["max_steps"], v, []) != FIELD_BY_KEY["max_steps"].off
    for f in FIELDS:
        if f.spec is None or f.spec in _SOURCES:
            continue
        # epochs may be left empty when max steps are set: max steps win
        value = _spec_value(f, v, errors, optional=f.key == "epochs" and steps_set)
        *path, name = f.spec.split(".")
        parts[path[-1] if path else ""][name] = value
    parts["model"]["name_or_path"] = model_ref(v)
    parts["dataset"]["source"] = dataset_ref(v)
    spec = RunSpec(
        name=parts[""]["name"] or default_run_name(v),
        task=parts[""]["task"],
        model=ModelSpec(**parts["model"]),
        dataset=DataSpec(**parts["dataset"], columns=ColumnMap(**parts["columns"])),
        method=MethodSpec(**parts["method"]),
        training=TrainingSpec(**parts["training"]),
    )
    return spec, errors


def validate_form(values: dict) -> tuple[RunSpec, list[FieldError]]:
    """The spec and every error: type errors from the form first, then the spec's own checks."""
    spec, errors = form_to_spec(values)
    seen = {e.field for e in errors}
    errors += [e for e in spec.check() if e.field not in seen]
    return spec, errors


def lora_twin(spec: RunSpec, lora_r: int | None = None) -> RunSpec:
    """The LoRA run to compare a NEAT run with: same data, model and budget, LoRA at rank
    `lora_r` and at LoRA's OWN defaults for the task (learning rate, alpha), not NEAT's."""
    twin = backend.with_method_defaults(spec, "lora")
    twin.method.r = max(1, int(lora_r or spec.method.r))
    twin.name = f"{spec.name}-lora" if not spec.name.endswith("-neat") else spec.name[:-5] + "-lora"
    return twin


def equal_budget_rank(neat_params: int, lora_params_at_r: int, r: int) -> int:
    """LoRA's parameter count is linear in r: the rank whose count is closest to NEAT's."""
    if lora_params_at_r <= 0 or neat_params <= 0:
        return r
    return max(1, round(r * neat_params / lora_params_at_r))


# ---- spec -> form ------------------------------------------------------------------------------


def _form_value(f: Field, value: Any) -> Any:
    if f.kind == "optional":
        return value or ""
    if f.kind == "list":
        return list(value or [])
    if f.kind in ("int?", "float?"):
        return None if value is None or value == f.off or value <= 0 else value
    return value


def spec_to_form(spec: RunSpec, uploads_root: Path | None = None) -> dict[str, Any]:
    """Form values that reproduce `spec` (Clone into the Train form)."""
    v = dict(FORM_DEFAULTS)
    for f in FIELDS:
        if f.spec is None or f.spec in _SOURCES:
            continue
        value: Any = spec
        for part in f.spec.split("."):
            value = getattr(value, part)
        v[f.key] = _form_value(f, value)
    ref = spec.model.name_or_path
    if ref in EMBEDDED_MODELS:
        v.update(model_kind=MODEL_EMBEDDED, model_embedded=ref, model_path="")
    else:
        v.update(model_kind=MODEL_OTHER, model_path=ref)
    source = spec.dataset.source
    if source in BUILTIN_DATASETS:
        v.update(data_kind=DATA_BUILTIN, data_builtin=source)
    elif uploads_root is not None and _is_under(source, uploads_root):
        v.update(data_kind=DATA_UPLOAD, data_upload=source)
    else:
        v.update(data_kind=DATA_OTHER, data_ref=source)
    v["compare_lora"] = False
    return v


def _is_under(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(root).resolve())
    except (OSError, ValueError):
        return False
