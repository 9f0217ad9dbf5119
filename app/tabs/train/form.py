"""The Train form as plain data: form values <-> RunSpec, presets, and where errors go.

The Gradio components live in app/tabs/train.py; this module knows nothing about Gradio, so
the mapping from what a person typed to the spec a job runs is unit-tested on its own.
A form is a dict keyed by FORM_KEYS; `form_to_spec` returns the spec plus a FieldError for
every value that is not even of the right type, and `RunSpec.check()` adds the rest.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

from neat.engine.errors import FieldError
from neat.engine.spec import (
    BUILTIN_DATASETS,
    EMBEDDED_MODELS,
    ColumnMap,
    DataSpec,
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

# Every value of the form, with the value a new user starts from. Defaults lean on NEAT's
# robustness to the learning rate (see DESIGN.md's probe: adapter lr 5e-3, scaling 0.1).
FORM_DEFAULTS: dict[str, Any] = {
    "name": "",
    "model_kind": MODEL_EMBEDDED,
    "model_embedded": "embedded:minilm",
    "model_path": "",
    "trust_remote_code": False,
    "task": "classification",
    "data_kind": DATA_BUILTIN,
    "data_builtin": "rotten_tomatoes",
    "data_upload": "",  # the stored copy under NEAT_HOME/uploads
    "data_ref": "",  # a hub id or a path on the server
    "hub_split": "train",
    "validation_source": "",
    "col_text": "text",
    "col_text_pair": NO_COLUMN,
    "col_label": "label",
    "col_prompt": "prompt",
    "col_response": "response",
    "col_image": "image",
    "col_messages": NO_COLUMN,  # a chat column (list of {role, content}); overrides prompt/response
    "validation_fraction": 0.1,
    "max_rows": None,
    "method": "neat",
    "r": 8,
    "depth": 0,
    "act_fn": "relu",
    "scaling": 0.1,
    "target_modules": [],
    "lora_alpha": None,
    "compare_lora": False,
    "epochs": 1.0,
    "max_steps": None,
    "batch_size": 16,
    "grad_accum": 1,
    "max_length": 128,
    "learning_rate": 5e-3,
    "head_learning_rate": 1e-3,
    "warmup_ratio": 0.06,
    "weight_decay": 0.0,
    "eval_steps": 50,
    "logging_steps": 10,
    "seed": 42,
    "precision": "auto",
    "save_merged": False,
}
FORM_KEYS = tuple(FORM_DEFAULTS)

# form key -> the spec field it fills (dotted, as in FieldError.field)
SPEC_FIELD = {
    "name": "name",
    "task": "task",
    "model_embedded": "model.name_or_path",
    "model_path": "model.name_or_path",
    "trust_remote_code": "model.trust_remote_code",
    "data_builtin": "dataset.source",
    "data_upload": "dataset.source",
    "data_ref": "dataset.source",
    "hub_split": "dataset.hub_split",
    "validation_source": "dataset.validation_source",
    "col_text": "dataset.columns.text",
    "col_text_pair": "dataset.columns.text_pair",
    "col_label": "dataset.columns.label",
    "col_prompt": "dataset.columns.prompt",
    "col_response": "dataset.columns.response",
    "col_image": "dataset.columns.image",
    "col_messages": "dataset.columns.messages",
    "validation_fraction": "dataset.validation_fraction",
    "max_rows": "dataset.max_rows",
    "method": "method.name",
    "r": "method.r",
    "depth": "method.depth",
    "act_fn": "method.act_fn",
    "scaling": "method.scaling",
    "target_modules": "method.target_modules",
    "lora_alpha": "method.lora_alpha",
    **{
        k: f"training.{k}"
        for k in (
            "epochs",
            "max_steps",
            "batch_size",
            "grad_accum",
            "max_length",
            "learning_rate",
            "head_learning_rate",
            "warmup_ratio",
            "weight_decay",
            "eval_steps",
            "logging_steps",
            "seed",
            "precision",
            "save_merged",
        )
    },
}

# Human names for the fields, used in error messages shown next to them.
FIELD_LABELS = {
    "name": "Run name",
    "task": "Task",
    "model.name_or_path": "Model",
    "model.trust_remote_code": "Trust remote code",
    "dataset.source": "Dataset",
    "dataset.hub_split": "Hub split",
    "dataset.validation_source": "Validation file",
    "dataset.columns.text": "Text column",
    "dataset.columns.text_pair": "Second text column",
    "dataset.columns.label": "Label column",
    "dataset.columns.prompt": "Prompt column",
    "dataset.columns.response": "Response column",
    "dataset.columns.image": "Image column",
    "dataset.columns.messages": "Chat column",
    "dataset.validation_fraction": "Validation fraction",
    "dataset.max_rows": "Max training rows",
    "method.name": "Method",
    "method.r": "Rank r",
    "method.depth": "Depth",
    "method.act_fn": "Activation",
    "method.scaling": "Scaling",
    "method.target_modules": "Target modules",
    "method.lora_alpha": "LoRA alpha",
    "method.lora_dropout": "LoRA dropout",
    "training.epochs": "Epochs",
    "training.max_steps": "Max steps",
    "training.batch_size": "Batch size",
    "training.grad_accum": "Gradient accumulation",
    "training.max_length": "Max length",
    "training.learning_rate": "Adapter learning rate",
    "training.head_learning_rate": "Head learning rate",
    "training.warmup_ratio": "Warmup ratio",
    "training.weight_decay": "Weight decay",
    "training.eval_steps": "Evaluation interval",
    "training.logging_steps": "Logging interval",
    "training.seed": "Seed",
    "training.precision": "Precision",
    "training.save_total_limit": "Checkpoints kept",
    "training.early_stopping_patience": "Early stopping patience",
}

# The form is drawn in sections; each shows the errors of its fields right under them.
SECTIONS = ("model", "dataset", "method", "training")


def section_of(field: str) -> str:
    """Which form section shows an error on `field` (a dotted spec name)."""
    head = field.split(".", 1)[0]
    if head in ("model", "task", "name", "spec"):
        return "model"
    if head == "dataset":
        return "dataset"
    if head == "method":
        return "method"
    return "training"


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


def form_to_spec(values: dict) -> tuple[RunSpec, list[FieldError]]:
    """Build the RunSpec the form describes; conversion errors are returned, not raised.

    Call `spec.check()` on the result (when there are no conversion errors) for the value
    checks the spec itself knows; `validate_form` does both.
    """
    v = {**FORM_DEFAULTS, **(values or {})}
    errors: list[FieldError] = []
    task = _text(v, "task")
    text_pair = _text(v, "col_text_pair") or None
    columns = ColumnMap(
        text=_text(v, "col_text") or "text",
        text_pair=text_pair,
        label=_text(v, "col_label") or "label",
        prompt=_text(v, "col_prompt") or "prompt",
        response=_text(v, "col_response") or "response",
        image=_text(v, "col_image") or "image",
        messages=_text(v, "col_messages") or None,
    )
    max_rows = _number(v, "max_rows", errors, int, optional=True, off_if_zero=True)
    dataset = DataSpec(
        source=dataset_ref(v),
        columns=columns,
        validation_source=_text(v, "validation_source") or None,
        validation_fraction=_float_or(v, "validation_fraction", errors, 0.1),
        hub_split=_text(v, "hub_split") or "train",
        max_rows=max_rows,
    )
    method_name = _text(v, "method") or "neat"
    targets = [str(t) for t in (v.get("target_modules") or []) if str(t).strip()]
    method = MethodSpec(
        name=method_name,
        r=_int_or(v, "r", errors, 8),
        depth=_int_or(v, "depth", errors, 0),
        act_fn=_text(v, "act_fn") or "relu",
        scaling=_float_or(v, "scaling", errors, 1.0),
        target_modules=targets or None,
        lora_alpha=_number(v, "lora_alpha", errors, float, optional=True, off_if_zero=True),
    )
    max_steps = _number(v, "max_steps", errors, int, optional=True, off_if_zero=True)
    training = TrainingSpec(
        epochs=_float_or(v, "epochs", errors, 1.0, optional=max_steps is not None),
        max_steps=max_steps if max_steps is not None else -1,
        batch_size=_int_or(v, "batch_size", errors, 16),
        grad_accum=_int_or(v, "grad_accum", errors, 1),
        learning_rate=_float_or(v, "learning_rate", errors, 5e-3),
        head_learning_rate=_float_or(v, "head_learning_rate", errors, 1e-3),
        warmup_ratio=_float_or(v, "warmup_ratio", errors, 0.0),
        weight_decay=_float_or(v, "weight_decay", errors, 0.0),
        max_length=_int_or(v, "max_length", errors, 128),
        eval_steps=_int_or(v, "eval_steps", errors, 50),
        logging_steps=_int_or(v, "logging_steps", errors, 10),
        precision=_text(v, "precision") or "auto",
        seed=_int_or(v, "seed", errors, 42),
        save_merged=bool(v.get("save_merged")),
    )
    spec = RunSpec(
        name=_text(v, "name") or default_run_name(v),
        task=task,
        model=ModelSpec(name_or_path=model_ref(v), trust_remote_code=bool(v.get("trust_remote_code"))),
        dataset=dataset,
        method=method,
        training=training,
    )
    return spec, errors


def _int_or(v, key, errors, fallback):
    value = _number(v, key, errors, int)
    return fallback if value is None else value


def _float_or(v, key, errors, fallback, optional=False):
    value = _number(v, key, errors, float, optional=optional)
    return fallback if value is None else value


def validate_form(values: dict) -> tuple[RunSpec, list[FieldError]]:
    """The spec and every error: type errors from the form first, then the spec's own checks."""
    spec, errors = form_to_spec(values)
    seen = {e.field for e in errors}
    errors += [e for e in spec.check() if e.field not in seen]
    return spec, errors


def lora_twin(spec: RunSpec, lora_r: int | None = None) -> RunSpec:
    """The LoRA run to compare a NEAT run with: same everything, LoRA at rank `lora_r`."""
    twin = copy.deepcopy(spec)
    twin.method.name = "lora"
    twin.method.depth = 0
    twin.method.r = max(1, int(lora_r or spec.method.r))
    twin.name = f"{spec.name}-lora" if not spec.name.endswith("-neat") else spec.name[:-5] + "-lora"
    return twin


def equal_budget_rank(neat_params: int, lora_params_at_r: int, r: int) -> int:
    """LoRA's parameter count is linear in r: the rank whose count is closest to NEAT's."""
    if lora_params_at_r <= 0 or neat_params <= 0:
        return r
    return max(1, round(r * neat_params / lora_params_at_r))


# ---- spec -> form ------------------------------------------------------------------------------


def spec_to_form(spec: RunSpec, uploads_root: Path | None = None) -> dict[str, Any]:
    """Form values that reproduce `spec` (Clone into the Train form)."""
    v = dict(FORM_DEFAULTS)
    v["name"] = spec.name
    v["task"] = spec.task
    ref = spec.model.name_or_path
    if ref in EMBEDDED_MODELS:
        v.update(model_kind=MODEL_EMBEDDED, model_embedded=ref, model_path="")
    else:
        v.update(model_kind=MODEL_OTHER, model_path=ref)
    v["trust_remote_code"] = spec.model.trust_remote_code
    d = spec.dataset
    if d.source in BUILTIN_DATASETS:
        v.update(data_kind=DATA_BUILTIN, data_builtin=d.source)
    elif uploads_root is not None and _is_under(d.source, uploads_root):
        v.update(data_kind=DATA_UPLOAD, data_upload=d.source)
    else:
        v.update(data_kind=DATA_OTHER, data_ref=d.source)
    c = d.columns
    v.update(
        col_text=c.text,
        col_text_pair=c.text_pair or NO_COLUMN,
        col_label=c.label,
        col_prompt=c.prompt,
        col_response=c.response,
        col_image=c.image,
        col_messages=c.messages or NO_COLUMN,
        hub_split=d.hub_split,
        validation_source=d.validation_source or "",
        validation_fraction=d.validation_fraction,
        max_rows=d.max_rows,
    )
    m = spec.method
    v.update(
        method=m.name,
        r=m.r,
        depth=m.depth,
        act_fn=m.act_fn,
        scaling=m.scaling,
        target_modules=list(m.target_modules or []),
        lora_alpha=m.lora_alpha,
    )
    t = spec.training
    v.update(
        epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps > 0 else None,
        batch_size=t.batch_size,
        grad_accum=t.grad_accum,
        max_length=t.max_length,
        learning_rate=t.learning_rate,
        head_learning_rate=t.head_learning_rate,
        warmup_ratio=t.warmup_ratio,
        weight_decay=t.weight_decay,
        eval_steps=t.eval_steps,
        logging_steps=t.logging_steps,
        seed=t.seed,
        precision=t.precision,
        save_merged=t.save_merged,
    )
    v["compare_lora"] = False
    return v


def _is_under(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(root).resolve())
    except (OSError, ValueError):
        return False


# ---- presets -------------------------------------------------------------------------------------

PRESET_HELP = {
    "NEAT-S": "Small NEAT, as in the paper's small setting: rank 8, no hidden layers (depth 0). "
    "About LoRA's cost at the same rank.",
    "NEAT-L": "Large NEAT, as in the paper's large setting: rank 32 with 2 residual hidden "
    "layer pairs (depth 2) for a more expressive nonlinear update.",
    "Quick CPU demo": "A ~1-minute run on a laptop CPU: embedded MiniLM on 1,200 Rotten Tomatoes "
    "reviews, 60 steps, batch 16, max length 64 (about 70% validation accuracy; a full epoch "
    "reaches about 80%).",
}


def apply_preset(name: str, values: dict) -> dict:
    """The form after pressing a preset button; fields a preset does not set are kept."""
    v = {**FORM_DEFAULTS, **(values or {})}
    if name == "NEAT-S":
        v.update(method="neat", r=8, depth=0, act_fn="relu", scaling=0.1, learning_rate=5e-3)
    elif name == "NEAT-L":
        v.update(method="neat", r=32, depth=2, act_fn="relu", scaling=0.1, learning_rate=5e-3)
    elif name == "Quick CPU demo":
        v.update(
            model_kind=MODEL_EMBEDDED,
            model_embedded="embedded:minilm",
            task="classification",
            data_kind=DATA_BUILTIN,
            data_builtin="rotten_tomatoes",
            col_text="text",
            col_label="label",
            col_text_pair=NO_COLUMN,
            col_messages=NO_COLUMN,
            max_rows=1200,
            method="neat",
            r=8,
            depth=0,
            act_fn="relu",
            scaling=1.0,  # a short run needs the update to move fast (measured: 71% at 60 steps)
            target_modules=["query", "value"],
            epochs=1.0,
            max_steps=60,
            batch_size=16,
            max_length=64,
            learning_rate=5e-3,
            head_learning_rate=5e-3,
            eval_steps=20,
            logging_steps=5,
            precision="auto",
            name="",
        )
    else:
        raise ValueError(f"unknown preset {name!r}")
    return v
