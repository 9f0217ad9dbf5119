"""One typed description of a training run, shared by the CLI, the job queue and the UI.

A spec is plain data: it round-trips through YAML/JSON, and `validate()` reports every bad
field by its dotted name (`method.r`, `training.learning_rate`, ...) before anything runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from neat.engine.errors import FieldError, SpecError

TASKS = ("classification", "causal-lm", "image-classification")
METHODS = ("neat", "lora", "full")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# NEAT's initialisation of A (neat/layer.py): "calibrated" scales A per layer so act(A W0) has
# RMS 1/sqrt(in) whatever W0's scale; "kaiming" is PEFT's stock Kaiming-uniform A.
NEAT_INITS = ("calibrated", "kaiming")
MAX_DEVICES = 16  # training.num_devices: data-parallel processes on one machine
ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "linear")

# Names accepted in model.name_or_path for the models bundled through pip packages.
EMBEDDED_MODELS = {
    "embedded:minilm": "all-MiniLM-L6-v2 (BERT encoder, 22.7M params) for text classification",
    "embedded:smollm2": "SmolLM2-135M-Instruct (Llama decoder) for chat fine-tuning",
    "embedded:vit-tiny": "a small ViT built from a config, randomly initialised (no pretrained "
    "image model ships offline) for image classification",
}
# Built-in datasets accepted in dataset.source.
BUILTIN_DATASETS = {
    "rotten_tomatoes": "classification",
    "chatterbot": "causal-lm",
    "digits": "image-classification",
}


@dataclass
class ModelSpec:
    name_or_path: str = "embedded:minilm"
    trust_remote_code: bool = False
    gguf_file: str | None = None  # for a folder/hub repo holding a .gguf checkpoint


@dataclass
class ColumnMap:
    """Which dataset columns play which role; unused roles are ignored by the task."""

    text: str = "text"
    text_pair: str | None = None
    label: str = "label"
    prompt: str = "prompt"
    response: str = "response"
    messages: str | None = None  # chat column (list of {role, content}); overrides prompt/response
    image: str = "image"


@dataclass
class DataSpec:
    source: str = "rotten_tomatoes"  # built-in name, file, image folder, or hub id
    columns: ColumnMap = field(default_factory=ColumnMap)
    validation_source: str | None = None  # a separate validation file; else a split is carved
    validation_fraction: float = 0.1
    hub_split: str = "train"
    max_rows: int | None = None  # keep only this many training rows (quick experiments)
    # A held-out test split, scored once with the kept checkpoint after training: a separate
    # file / image folder / hub dataset ("id" or "id:split"), or a share carved from `source`.
    test_source: str | None = None
    test_fraction: float = 0.0  # 0: no test split carved


@dataclass
class MethodSpec:
    name: str = "neat"
    r: int = 8
    depth: int = 0  # NEAT: number of encoder/decoder residual pairs (PEFT PeanutConfig.depth)
    act_fn: str = "relu"
    scaling: float = 1.0
    neat_init: str = "calibrated"  # NEAT only: see NEAT_INITS; saved as init_weights in adapter_config.json
    # NEAT only: A (the map that builds the hidden features from W0) trains at this times
    # training.learning_rate, B at the full rate. Optimiser only: nothing new is saved.
    neat_a_lr_scale: float = 1.0
    target_modules: list[str] | None = None  # None: the architecture's defaults
    layers_to_transform: list[int] | None = None
    lora_alpha: float | None = None  # LoRA only; None means alpha = r
    lora_dropout: float = 0.0


@dataclass
class TrainingSpec:
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 16
    grad_accum: int = 1
    learning_rate: float = 5e-3  # adapter (or all weights for full fine-tuning)
    head_learning_rate: float = 1e-2  # task head, trained fully next to the adapter (defaults.py)
    warmup_ratio: float = 0.06
    weight_decay: float = 0.0
    max_length: int = 128
    eval_steps: int = 50
    logging_steps: int = 10
    save_total_limit: int = 2
    early_stopping_patience: int | None = None  # in evaluations; None: off
    metric_for_best: str | None = None  # None: the task's main metric
    precision: str = "auto"
    seed: int = 42
    save_merged: bool = False
    # Processes that train the run data-parallel, one per device (a job worker that owns that
    # many launches them); batch_size is per device, so the effective batch grows with it.
    num_devices: int = 1


@dataclass
class RunSpec:
    name: str = "run"
    task: str = "classification"
    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: DataSpec = field(default_factory=DataSpec)
    method: MethodSpec = field(default_factory=MethodSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        if not isinstance(data, dict):
            raise SpecError([FieldError("spec", "must be a mapping of fields")])
        errors: list[FieldError] = []
        spec = _build(cls, data, "", errors)
        if errors:
            raise SpecError(errors)
        return spec

    @classmethod
    def from_yaml(cls, text: str) -> RunSpec:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError([FieldError("spec", f"is not valid YAML: {exc}")]) from exc
        return cls.from_dict(data or {})

    @classmethod
    def load(cls, path: str | Path) -> RunSpec:
        path = Path(path)
        if not path.is_file():
            raise SpecError([FieldError("spec", f"file not found: {path}")])
        return cls.from_yaml(path.read_text(encoding="utf-8"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    # ---- validation ----------------------------------------------------------------------
    def check(self) -> list[FieldError]:
        """Every problem with the spec's values (not the data itself), by field."""
        e: list[FieldError] = []
        m, t, d = self.method, self.training, self.dataset

        def bad(name: str, message: str) -> None:
            e.append(FieldError(name, message))

        if not self.name.strip():
            bad("name", "must not be empty")
        if self.task not in TASKS:
            bad("task", f"must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not self.model.name_or_path.strip():
            bad("model.name_or_path", "must name a model: embedded:..., a folder or a hub id")
        elif self.model.name_or_path.startswith("embedded:") and (
            self.model.name_or_path not in EMBEDDED_MODELS
        ):
            bad("model.name_or_path", f"unknown embedded model; choose {', '.join(EMBEDDED_MODELS)}")
        if not d.source.strip():
            bad("dataset.source", "must name a built-in dataset, a file, a folder or a hub id")
        if not 0.0 < d.validation_fraction < 0.9:
            bad("dataset.validation_fraction", "must be between 0 and 0.9")
        e.extend(_test_split_errors(d))
        if d.max_rows is not None and d.max_rows < 2:
            bad("dataset.max_rows", "must be at least 2 (or empty for all rows)")
        if m.name not in METHODS:
            bad("method.name", f"must be one of {', '.join(METHODS)}, got {m.name!r}")
        if m.name != "full":
            if m.r < 1:
                bad("method.r", "rank must be a positive integer")
            if m.depth < 0:
                bad("method.depth", "must be 0 or more (residual encoder/decoder pairs)")
            if m.act_fn not in ACTIVATIONS:
                bad("method.act_fn", f"must be one of {', '.join(ACTIVATIONS)}")
            if m.neat_init not in NEAT_INITS:
                bad("method.neat_init", f"must be one of {', '.join(NEAT_INITS)}, got {m.neat_init!r}")
            if not (isinstance(m.neat_a_lr_scale, (int, float)) and 0 < m.neat_a_lr_scale <= 10):
                bad("method.neat_a_lr_scale", f"must be a number in (0, 10], got {m.neat_a_lr_scale!r}")
            if not m.scaling > 0:
                bad("method.scaling", "must be a positive number")
            if m.target_modules is not None and not m.target_modules:
                bad("method.target_modules", "must list at least one module (or be empty for the default)")
        if not 0.0 <= m.lora_dropout < 1.0:
            bad("method.lora_dropout", "must be in [0, 1)")
        if not (t.epochs > 0 or t.max_steps > 0):
            bad("training.epochs", "must be positive (or set training.max_steps)")
        for name in ("batch_size", "grad_accum", "max_length", "eval_steps", "logging_steps"):
            if getattr(t, name) < 1:
                bad(f"training.{name}", "must be a positive integer")
        for name in ("learning_rate", "head_learning_rate"):
            value = getattr(t, name)
            if not 0.0 < value < 1.0:
                bad(f"training.{name}", f"must be between 0 and 1, got {value}")
        if not 0.0 <= t.warmup_ratio < 1.0:
            bad("training.warmup_ratio", "must be in [0, 1)")
        if t.weight_decay < 0:
            bad("training.weight_decay", "must not be negative")
        if t.precision not in PRECISIONS:
            bad("training.precision", f"must be one of {', '.join(PRECISIONS)}")
        if t.early_stopping_patience is not None and t.early_stopping_patience < 1:
            bad("training.early_stopping_patience", "must be at least 1 evaluation (or empty for off)")
        if t.save_total_limit < 1:
            bad("training.save_total_limit", "must keep at least 1 checkpoint")
        if not 1 <= t.num_devices <= MAX_DEVICES:
            bad("training.num_devices", f"must be between 1 and {MAX_DEVICES} devices, got {t.num_devices}")
        return e

    def validate(self) -> RunSpec:
        """Raise SpecError naming every bad field; return self so calls can be chained."""
        errors = self.check()
        if errors:
            raise SpecError(errors)
        return self


def _test_split_errors(d: DataSpec) -> list[FieldError]:
    """test_source and test_fraction: one way to get a test split, never scored on training rows."""
    errors = []

    def bad(name: str, message: str) -> None:
        errors.append(FieldError(f"dataset.{name}", message))

    if d.test_source is not None and not d.test_source.strip():
        bad("test_source", "must name a file, a folder or a hub dataset (or be empty for none)")
    if not 0.0 <= d.test_fraction < 0.9:
        bad("test_fraction", f"must be in [0, 0.9) (0 for no test split), got {d.test_fraction}")
    elif d.test_fraction and d.test_source:
        bad("test_fraction", "set either dataset.test_source or dataset.test_fraction, not both")
    elif d.test_fraction and not d.validation_source and d.test_fraction + d.validation_fraction >= 0.9:
        bad(
            "test_fraction",
            f"with validation_fraction {d.validation_fraction} it leaves too few training rows "
            "(the two together must stay below 0.9)",
        )
    if d.test_source and d.test_source.strip() == d.source.strip():
        bad("test_source", "is the training source itself; set test_fraction to carve a test split from it")
    return errors


def _build(cls, data: dict[str, Any], prefix: str, errors: list[FieldError]):
    """Build dataclass `cls` from `data`, recording unknown fields and wrong types by name."""
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in known:
            suggestion = _closest(key, known)
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            errors.append(FieldError(name, f"unknown field{hint}"))
            continue
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            if value is None:
                continue
            if not isinstance(value, dict):
                errors.append(FieldError(name, "must be a mapping of fields"))
                continue
            kwargs[key] = _build(type(default), value, f"{name}.", errors)
        else:
            kwargs[key] = _coerce(name, value, known[key].type, errors)
    return cls(**kwargs)


def _coerce(name: str, value: Any, type_name: str, errors: list[FieldError]) -> Any:
    """Convert YAML scalars to the annotated type (annotations are strings here)."""
    optional = "None" in type_name
    if value is None:
        if not optional:
            errors.append(FieldError(name, "must not be empty"))
        return value
    base = type_name.replace(" | None", "")
    try:
        if base == "bool":
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
                    raise ValueError
                return value.lower() in ("true", "yes", "1")
            return bool(value)
        if base == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if base == "float":
            return float(value)
        if base == "str":
            return str(value)
        if base.startswith("list["):
            items = [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value
            if not isinstance(items, list):
                raise ValueError
            item_type = base[5:-1]
            return [int(v) for v in items] if item_type == "int" else [str(v) for v in items]
    except (TypeError, ValueError):
        errors.append(FieldError(name, f"must be of type {base}, got {value!r}"))
        return None
    return value


def _closest(word: str, candidates) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def quick_demo_spec(name: str = "quick-demo", **changes: Any) -> RunSpec:
    """The Train tab's quick CPU demo (neat/engine/defaults.py, QUICK_DEMO) as a spec; `changes`
    are dotted spec fields, e.g. quick_demo_spec(**{"dataset.source": "pool.jsonl"})."""
    import copy

    from neat.engine.defaults import QUICK_DEMO

    data = copy.deepcopy({k: v for k, v in QUICK_DEMO.items() if k != "top"})
    data.update(QUICK_DEMO["top"], name=name)
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        target = data
        for part in path:
            target = target[part]
        target[last] = value
    return RunSpec.from_dict(data)


def example_spec(task: str, method: str = "neat") -> RunSpec:
    """A ready-to-run spec for the embedded defaults of each task (CLI `--example`).

    The method's own defaults for the task (learning rate, scaling, ...) come from
    neat/engine/defaults.py, so `--method lora` prints LoRA at LoRA's defaults, not NEAT's.
    """
    from neat.engine.defaults import with_method_defaults

    if task in ("classification", "text-classification"):
        spec = RunSpec(
            name="minilm-rotten-tomatoes",
            task="classification",
            model=ModelSpec("embedded:minilm"),
            dataset=DataSpec("rotten_tomatoes", ColumnMap(text="text", label="label")),
            method=MethodSpec("neat", r=8, depth=0, target_modules=["query", "value"]),
            training=TrainingSpec(epochs=1, batch_size=16),
        )
    elif task in ("causal-lm", "chat"):
        spec = RunSpec(
            name="smollm2-chatterbot",
            task="causal-lm",
            model=ModelSpec("embedded:smollm2"),
            dataset=DataSpec("chatterbot", ColumnMap(prompt="prompt", response="response")),
            method=MethodSpec("neat", r=8, depth=0, target_modules=["q_proj", "v_proj"]),
            training=TrainingSpec(epochs=1, batch_size=8, max_length=128, eval_steps=50),
        )
    elif task in ("image", "image-classification"):
        spec = RunSpec(
            name="vit-digits",
            task="image-classification",
            model=ModelSpec("embedded:vit-tiny"),
            dataset=DataSpec("digits", ColumnMap(image="image", label="label")),
            method=MethodSpec("neat", r=8, depth=0),  # default targets: the ViT query/value projections
            training=TrainingSpec(epochs=3, batch_size=32, max_length=8),
        )
    else:
        raise ValueError(f"no example for task {task!r}; choose classification, causal-lm or image")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose {', '.join(METHODS)}")
    spec = with_method_defaults(spec, method)
    spec.name = f"{spec.name}-{method}"
    return spec
