"""Train tab: model, task, data (preview, column mapping, check), NEAT settings, YAML, Start.

The top half of this file is plain logic on form values (unit-tested without a browser); the
bottom half draws it with Gradio. Every handler is quick: models are described from their
config on the meta device, datasets are read once and cached, training runs in the worker.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app import backend, config
from app.tabs.train.form import (
    DATA_BUILTIN,
    DATA_KINDS,
    DATA_OTHER,
    DATA_UPLOAD,
    FORM_DEFAULTS,
    FORM_KEYS,
    MODEL_EMBEDDED,
    MODEL_KINDS,
    NO_COLUMN,
    PRESET_HELP,
    SECTIONS,
    apply_preset,
    dataset_ref,
    equal_budget_rank,
    errors_by_section,
    format_errors,
    lora_twin,
    model_ref,
    validate_form,
)
from app.uploads import UploadError, store_upload
from neat.engine.errors import DatasetError, FieldError, UserError
from neat.engine.spec import (
    ACTIVATIONS,
    BUILTIN_DATASETS,
    EMBEDDED_MODELS,
    METHODS,
    PRECISIONS,
    TASKS,
    RunSpec,
)

COLUMN_KEYS = (
    "col_text",
    "col_text_pair",
    "col_label",
    "col_prompt",
    "col_response",
    "col_messages",
    "col_image",
)
# which column pickers a task uses
TASK_COLUMNS = {
    "classification": ("col_text", "col_text_pair", "col_label"),
    "causal-lm": ("col_prompt", "col_response", "col_messages"),
    "image-classification": ("col_image", "col_label"),
}
OPTIONAL_COLUMNS = ("col_text_pair", "col_messages")
_ROLE_OF = {
    "col_text": "text",
    "col_text_pair": "text_pair",
    "col_label": "label",
    "col_prompt": "prompt",
    "col_response": "response",
    "col_messages": "messages",
    "col_image": "image",
}


# ---- models ------------------------------------------------------------------------------------


def suggest_task_for_model(ref: str) -> str | None:
    """The task a model is made for: embedded models say so; a folder's config.json tells."""
    if ref in EMBEDDED_MODELS:
        from neat.engine.assets import describe_embedded_models

        return describe_embedded_models()[ref]["task"]
    cfg_path = Path(ref).expanduser() / "config.json"
    if not cfg_path.is_file():
        return None
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    archs = " ".join(cfg.get("architectures") or [])
    model_type = cfg.get("model_type", "")
    if (
        "CausalLM" in archs
        or "LMHead" in archs
        or model_type in ("llama", "qwen2", "qwen3", "mistral", "gpt2", "gemma", "gemma2", "phi3", "smollm3")
    ):
        return "causal-lm"
    if "ImageClassification" in archs or model_type in (
        "vit",
        "deit",
        "convnext",
        "resnet",
        "swin",
        "beit",
        "dinov2",
        "mobilevit",
        "efficientnet",
    ):
        return "image-classification"
    return "classification"


@functools.lru_cache(maxsize=32)
def _describe(ref: str, trust_remote_code: bool) -> tuple[tuple[str, int, int], ...]:
    return tuple(backend.describe_linear_modules(ref, trust_remote_code=trust_remote_code))


@functools.lru_cache(maxsize=32)
def _default_targets(ref: str) -> tuple[str, ...]:
    return tuple(backend.default_targets(ref))


def check_model_ref(ref: str) -> list[FieldError]:
    """Errors for a model reference that can be told wrong now (without any network)."""
    if not ref:
        return [
            FieldError("model.name_or_path", "must name a model: pick an embedded one, a folder or a hub id")
        ]
    if ref.startswith("embedded:"):
        return []
    path = Path(ref).expanduser()
    looks_local = path.exists() or ref.startswith(("/", "./", "../", "~"))
    if looks_local and not path.is_dir():
        return [FieldError("model.name_or_path", f"folder not found on the server: {ref}")]
    if path.is_dir() and not (path / "config.json").is_file():
        return [
            FieldError(
                "model.name_or_path", f"{ref} holds no config.json: is it a Hugging Face model folder?"
            )
        ]
    return []


def model_summary(values: dict) -> dict[str, Any]:
    """What the form shows after the model changes: task, target-module choices, info, errors."""
    ref = model_ref(values)
    trust = bool(values.get("trust_remote_code"))
    out: dict[str, Any] = {"task": None, "targets": [], "targets_value": [], "info": "", "errors": []}
    if not ref:  # not typed yet: a hint, not an error (Start reports a missing model)
        out["info"] = "Type a model folder on the server or a hub id (e.g. prajjwal1/bert-tiny)."
        return out
    out["errors"] = check_model_ref(ref)
    if out["errors"]:
        return out
    out["task"] = suggest_task_for_model(ref)
    try:
        modules = _describe(ref, trust)
    except Exception as exc:  # noqa: BLE001 - a hub id offline, a broken folder: say so, keep going
        out["info"] = (
            f"⚠ Could not read the model's layers ({backend.user_message(exc)}). The job will still try to "
            "load it; target modules fall back to the architecture's defaults."
        )
        return out
    choices = backend.module_choices(list(modules))
    defaults = [t for t in _default_targets(ref) if t in choices]
    current = [t for t in (values.get("target_modules") or []) if t in choices]
    out["targets"] = choices
    out["targets_value"] = current or defaults
    n_params = sum(i * o for _, i, o in modules)
    out["info"] = (
        f"{len(modules)} linear layers ({_fmt(n_params)} weights in them); "
        f"default targets: {', '.join(defaults) or '(choose below)'}"
    )
    if ref in EMBEDDED_MODELS:
        out["info"] = f"{EMBEDDED_MODELS[ref]}. " + out["info"]
    return out


def budget_markdown(values: dict, num_labels: int = 2) -> str:
    """The live trainable-parameter line: NEAT next to LoRA at the same rank (and full FT)."""
    ref = model_ref(values)
    if check_model_ref(ref):
        return ""
    method = values.get("method") or "neat"
    try:
        r = int(float(values.get("r") or 0))
        depth = int(float(values.get("depth") or 0))
    except (TypeError, ValueError):
        return "Trainable parameters: enter a whole-number rank and depth."
    if r < 1 or depth < 0:
        return "Trainable parameters: rank must be ≥ 1 and depth ≥ 0."
    targets = list(values.get("target_modules") or []) or None
    try:
        counts = backend.param_budget(
            ref,
            values.get("task") or "classification",
            {"name": "neat", "r": r, "depth": depth, "target_modules": targets},
            num_labels=num_labels,
            trust_remote_code=bool(values.get("trust_remote_code")),
        )
    except Exception as exc:  # noqa: BLE001 - shown in place of the count
        return f"Trainable parameters: unknown ({backend.user_message(exc)})"
    neat, lora = counts.get("neat"), counts.get("lora")
    head, full = counts.get("head"), counts.get("full")
    parts = []
    chosen = "**" if method == "neat" else ""
    parts.append(f"NEAT (r={r}, depth {depth}): {chosen}{_fmt(neat)}{chosen}")
    chosen = "**" if method == "lora" else ""
    parts.append(f"LoRA at r={r}: {chosen}{_fmt(lora)}{chosen}")
    if full:
        chosen = "**" if method == "full" else ""
        parts.append(f"full fine-tuning: {chosen}{_fmt(full)}{chosen}")
    line = "**Trainable parameters** — " + " · ".join(parts)
    if head and method != "full":
        line += f"; the task head adds {_fmt(head)}, trained in full"
    if neat and lora and method == "neat":
        line += f". LoRA at equal budget: r={equal_budget_rank(neat, lora, r)}."
    return line


def _fmt(n) -> str:
    if n is None:
        return "?"
    n = int(n)
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n:,}"


# ---- data --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=6)
def _raw(source: str, hub_split: str, stamp: float):
    from neat.engine.data import load_raw

    return load_raw(source, hub_split)


def load_raw_cached(source: str, hub_split: str = "train"):
    path = Path(source).expanduser()
    stamp = path.stat().st_mtime if path.exists() else 0.0
    return _raw(source, hub_split, stamp)


def dataset_summary(values: dict) -> dict[str, Any]:
    """Preview rows, columns, suggested mapping and task for the form's dataset.

    Raises DatasetError (with the reader's message) when the data cannot even be read.
    """
    from neat.engine.data_check import preview, suggest_columns, suggest_task

    source = dataset_ref(values)
    if not source:
        raise DatasetError(
            "upload a file first" if values.get("data_kind") == DATA_UPLOAD else "name a dataset"
        )
    ds = load_raw_cached(source, values.get("hub_split") or "train")
    columns = list(ds.column_names)
    task = suggest_task(columns)
    rows = preview(ds, 8)
    frame = pd.DataFrame(rows, columns=columns)
    for column in frame.columns:  # lists and dicts (chat turns) as readable text
        frame[column] = frame[column].map(
            lambda v: json.dumps(v, ensure_ascii=False)[:200] if isinstance(v, (list, dict)) else v
        )
    suggestions: dict[str, str] = {}
    for t in TASKS:
        for role, column in suggest_columns(columns, t).items():
            suggestions.setdefault(role, column)
    return {"columns": columns, "rows": len(ds), "preview": frame, "task": task, "suggest": suggestions}


def mapped_columns(values: dict, columns: list[str], suggest: dict[str, str]) -> dict[str, str]:
    """Column picker values: keep a valid choice, else the suggestion, else the first column."""
    out = {}
    for key in COLUMN_KEYS:
        role = _ROLE_OF[key]
        current = values.get(key) or ""
        if key in OPTIONAL_COLUMNS:
            out[key] = current if current in columns else (suggest.get(role) or NO_COLUMN)
            if (
                key == "col_text_pair"
                and out[key]
                and out[key] == (suggest.get("text") or values.get("col_text"))
            ):
                out[key] = NO_COLUMN
            continue
        if current in columns:
            out[key] = current
        elif suggest.get(role):
            out[key] = suggest[role]
        else:
            out[key] = current or FORM_DEFAULTS[key]
    return out


_CHECKS: dict[str, Any] = {}
_CHECKS_LOCK = threading.Lock()


def _check_key(spec: RunSpec) -> str:
    d = spec.dataset
    path = Path(d.source).expanduser()
    stamp = path.stat().st_mtime if path.exists() else 0
    return json.dumps(
        [spec.task, d.source, stamp, d.hub_split, d.validation_source, spec.dataset.columns.__dict__],
        sort_keys=True,
        default=str,
    )


def check_data(values: dict):
    """Run neat's dataset check for the form: (report or None, list of dataset FieldErrors)."""
    from neat.engine.data_check import check_dataset

    spec, _ = validate_form(values)
    if not spec.dataset.source:
        return None, [FieldError("dataset.source", "name a dataset (built-in, upload or hub id)")]
    key = _check_key(spec)
    with _CHECKS_LOCK:
        if key in _CHECKS:
            return _CHECKS[key]
    try:
        raw = load_raw_cached(spec.dataset.source, spec.dataset.hub_split)
        result = (check_dataset(spec, raw=raw), [])
    except UserError as exc:
        result = (None, [FieldError("dataset.source", str(exc))])
    except Exception as exc:  # noqa: BLE001 - an unexpected reader failure is still about the data
        result = (None, [FieldError("dataset.source", backend.user_message(exc))])
    with _CHECKS_LOCK:
        if len(_CHECKS) > 64:
            _CHECKS.clear()
        _CHECKS[key] = result
    return result


def report_markdown(report) -> str:
    if report is None:
        return ""
    if hasattr(report, "summary_markdown"):
        return "**Dataset check** ✓ " + report.summary_markdown()
    return "**Dataset check** ✓"


def num_labels(report) -> int:
    counts = getattr(report, "label_counts", None) or {}
    return max(2, len(counts))


def warm_up() -> None:
    """Describe the default model and read the default dataset once, so the first page is quick."""
    try:
        values = dict(FORM_DEFAULTS)
        model_summary(values)
        budget_markdown(values)
        dataset_summary(values)
        check_data(values)
    except Exception:  # noqa: BLE001 - the page reports the same problem when it opens
        pass


# ---- start -------------------------------------------------------------------------------------


@dataclass
class StartResult:
    errors: list[FieldError] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    message: str = ""
    specs: list[RunSpec] = field(default_factory=list)


def runs_for(values: dict, spec: RunSpec) -> list[RunSpec]:
    """The spec, and its LoRA twin at an equal parameter budget when the form asks to compare."""
    if not (values.get("compare_lora") and spec.method.name == "neat"):
        return [spec]
    lora_r = spec.method.r
    try:
        counts = backend.param_budget(
            spec.model.name_or_path,
            spec.task,
            {
                "name": "neat",
                "r": spec.method.r,
                "depth": spec.method.depth,
                "target_modules": spec.method.target_modules,
            },
            trust_remote_code=spec.model.trust_remote_code,
        )
        lora_r = equal_budget_rank(counts["neat"], counts["lora"], spec.method.r)
    except Exception:  # noqa: BLE001 - the model cannot be described: the same rank
        pass
    return [spec, lora_twin(spec, lora_r)]


def specs_yaml(specs: list[RunSpec]) -> str:
    """One YAML document per job that Start would queue."""
    if len(specs) == 1:
        return specs[0].to_yaml()
    return "\n---\n".join(f"# job {i} of {len(specs)}\n{s.to_yaml()}" for i, s in enumerate(specs, 1))


def plan_runs(values: dict) -> StartResult:
    """Validate everything and return the spec(s) to queue, or the errors; queues nothing."""
    spec, errors = validate_form(values)
    errors += [
        e for e in check_model_ref(spec.model.name_or_path) if e.field not in {x.field for x in errors}
    ]
    if not any(e.field.startswith("dataset.") for e in errors):
        _, data_errors = check_data(values)
        errors += data_errors
    if errors:
        return StartResult(
            errors=errors, message=f"Nothing was queued: {len(errors)} problem(s) to fix above."
        )
    specs = runs_for(values, spec)
    return StartResult(specs=specs)


def start(values: dict) -> StartResult:
    plan = plan_runs(values)
    if plan.errors:
        return plan
    try:
        if len(plan.specs) > 1:
            ids = backend.submit_many(plan.specs, f"{plan.specs[0].name} vs LoRA")
        else:
            ids = [backend.submit(plan.specs[0])]
    except UserError as exc:
        return StartResult(errors=[FieldError("spec", str(exc))], message="Nothing was queued.")
    names = ", ".join(f"#{i} {s.name} ({s.method.name})" for i, s in zip(ids, plan.specs))
    return StartResult(job_ids=ids, specs=plan.specs, message=f"✓ Queued {names}. Follow it in the Jobs tab.")


# ---- the Gradio tab ----------------------------------------------------------------------------


@dataclass
class TrainTab:
    form: dict[str, gr.components.Component]
    errors: dict[str, gr.Markdown]
    start_btn: gr.Button
    status: gr.Markdown
    yaml: gr.Code
    upload: gr.File
    preview: gr.Dataframe
    report: gr.Markdown
    budget: gr.Markdown
    model_info: gr.Markdown
    extra: dict[str, Any] = field(default_factory=dict)

    def inputs(self) -> list:
        return [self.form[k] for k in FORM_KEYS]


def values_of(args) -> dict:
    return dict(zip(FORM_KEYS, args))


def _error_box(section: str) -> gr.Markdown:
    return gr.Markdown("", elem_id=f"err-{section}", elem_classes=["field-error"])


def build() -> TrainTab:
    """Draw the Train tab (inside a gr.Tab context) and wire its own events."""
    f: dict[str, Any] = {}
    d = FORM_DEFAULTS
    gr.Markdown(
        "Fine-tune a pretrained model with **NEAT** — a small neural network learns the weight update "
        "from the frozen weights. Pick a model and data, keep the defaults or choose a preset, and press "
        "**Start**. Jobs run in the background; nothing here blocks."
    )
    with gr.Row():
        preset_buttons = {}
        for name in PRESET_HELP:
            preset_buttons[name] = gr.Button(
                name, size="sm", elem_id=f"preset-{name.lower().replace(' ', '-')}", scale=0
            )
        gr.HTML(
            "<span class='preset-help' title=\""
            + " ".join(f"{k}: {v}" for k, v in PRESET_HELP.items()).replace('"', "'")
            + "\">Presets: NEAT-S and NEAT-L follow the paper's small and large settings; "
            "Quick CPU demo trains in about a minute on a CPU.</span>"
        )

    with gr.Group():
        gr.Markdown("### 1 · Model and task", padding=True)
        with gr.Row():
            f["model_kind"] = gr.Radio(
                list(MODEL_KINDS), value=d["model_kind"], label="Model source", elem_id="model-kind"
            )
            f["model_embedded"] = gr.Dropdown(
                [(f"{k} — {v.split('(')[0].strip()}", k) for k, v in EMBEDDED_MODELS.items()],
                value=d["model_embedded"],
                label="Embedded model (works offline)",
                elem_id="model-embedded",
            )
            f["model_path"] = gr.Textbox(
                value=d["model_path"],
                label="Folder on the server or hub id",
                placeholder="/models/my-bert or prajjwal1/bert-tiny",
                visible=False,
                elem_id="model-path",
            )
        with gr.Row():
            f["task"] = gr.Dropdown(
                list(TASKS),
                value=d["task"],
                label="Task",
                info="suggested from the model and the data",
                elem_id="task",
            )
            f["trust_remote_code"] = gr.Checkbox(
                value=d["trust_remote_code"], label="Trust remote code", info="only for hub models you trust"
            )
            f["name"] = gr.Textbox(
                value=d["name"], label="Run name", placeholder="(automatic)", elem_id="run-name"
            )
        model_info = gr.Markdown("", elem_id="model-info", padding=True)
        err_model = _error_box("model")

    with gr.Group():
        gr.Markdown("### 2 · Data", padding=True)
        with gr.Row():
            f["data_kind"] = gr.Radio(
                list(DATA_KINDS), value=d["data_kind"], label="Dataset source", elem_id="data-kind"
            )
            f["data_builtin"] = gr.Dropdown(
                [(f"{k} ({v})", k) for k, v in BUILTIN_DATASETS.items()],
                value=d["data_builtin"],
                label="Built-in dataset",
                elem_id="data-builtin",
            )
            upload = gr.File(
                label="Upload CSV, TSV, JSON(L), Parquet or a zip of image folders",
                file_types=[".csv", ".tsv", ".json", ".jsonl", ".parquet", ".zip"],
                visible=False,
                elem_id="data-upload",
                height=120,
            )
            f["data_upload"] = gr.Textbox(
                value=d["data_upload"],
                label="Stored as",
                interactive=False,
                visible=False,
                elem_id="data-stored",
            )
            f["data_ref"] = gr.Textbox(
                value=d["data_ref"],
                label="Hub id or path on the server",
                placeholder="imdb or /data/reviews.csv",
                visible=False,
                elem_id="data-ref",
            )
            f["hub_split"] = gr.Textbox(
                value=d["hub_split"], label="Hub split", visible=False, scale=0, min_width=100
            )
        err_dataset = _error_box("dataset")
        preview = gr.Dataframe(
            label="Preview (first rows)",
            interactive=False,
            max_height=260,
            wrap=True,
            max_chars=90,
            elem_id="data-preview",
            visible=False,
        )
        with gr.Row():
            for key, label in (
                ("col_text", "Text column"),
                ("col_text_pair", "Second text (optional)"),
                ("col_label", "Label column"),
                ("col_prompt", "Prompt column"),
                ("col_response", "Response column"),
                ("col_messages", "Chat column (optional)"),
                ("col_image", "Image column"),
            ):
                f[key] = gr.Dropdown(
                    [d[key]] if d[key] else [NO_COLUMN],
                    value=d[key],
                    label=label,
                    allow_custom_value=True,
                    elem_id=key.replace("_", "-"),
                    visible=key in TASK_COLUMNS[d["task"]],
                )
        with gr.Row():
            f["validation_fraction"] = gr.Number(
                value=d["validation_fraction"],
                label="Validation fraction",
                info="carved from the data when no validation file",
            )
            f["validation_source"] = gr.Textbox(
                value=d["validation_source"],
                label="Validation file (optional)",
                placeholder="a path on the server",
            )
            f["max_rows"] = gr.Number(
                value=d["max_rows"],
                label="Max training rows",
                info="empty or 0: all rows",
                precision=0,
                elem_id="max-rows",
            )
        report = gr.Markdown("", elem_id="data-report", padding=True)

    with gr.Group():
        gr.Markdown("### 3 · Method", padding=True)
        with gr.Row():
            f["method"] = gr.Radio(
                list(METHODS),
                value=d["method"],
                label="Method",
                info="NEAT (nonlinear), LoRA (low-rank) or full fine-tuning",
                elem_id="method",
            )
            f["compare_lora"] = gr.Checkbox(
                value=d["compare_lora"],
                label="Compare with LoRA at equal budget",
                info="queues a second job: LoRA with the same parameter count",
                elem_id="compare-lora",
            )
        with gr.Row():
            f["r"] = gr.Number(value=d["r"], label="Rank r", precision=0, elem_id="rank")
            f["depth"] = gr.Number(
                value=d["depth"],
                label="Depth",
                precision=0,
                info="residual hidden-layer pairs in NEAT's MLP",
                elem_id="depth",
            )
            f["act_fn"] = gr.Dropdown(list(ACTIVATIONS), value=d["act_fn"], label="Activation")
            f["scaling"] = gr.Number(
                value=d["scaling"], label="Scaling", info="multiplier on the update", elem_id="scaling"
            )
            f["lora_alpha"] = gr.Number(
                value=d["lora_alpha"], label="LoRA alpha", info="empty: alpha = r", visible=False
            )
        f["target_modules"] = gr.Dropdown(
            [],
            value=[],
            multiselect=True,
            allow_custom_value=True,  # a suffix the list does not offer is still a valid target
            label="Target modules (the model's own linear layers)",
            info="empty: the architecture's defaults",
            elem_id="target-modules",
        )
        budget = gr.Markdown("", elem_id="param-budget", padding=True)
        err_method = _error_box("method")

    with gr.Group():
        gr.Markdown("### 4 · Training", padding=True)
        with gr.Row():
            f["epochs"] = gr.Number(value=d["epochs"], label="Epochs", elem_id="epochs")
            f["max_steps"] = gr.Number(
                value=d["max_steps"],
                label="Max steps",
                precision=0,
                info="empty or 0: use epochs",
                elem_id="max-steps",
            )
            f["batch_size"] = gr.Number(
                value=d["batch_size"], label="Batch size", precision=0, elem_id="batch-size"
            )
            f["grad_accum"] = gr.Number(value=d["grad_accum"], label="Gradient accumulation", precision=0)
            f["max_length"] = gr.Number(
                value=d["max_length"], label="Max length (tokens)", precision=0, elem_id="max-length"
            )
        with gr.Row():
            f["learning_rate"] = gr.Number(
                value=d["learning_rate"],
                label="Adapter learning rate",
                info="NEAT is robust here; 5e-3 is a good start",
                elem_id="learning-rate",
                step=0.001,
            )
            f["head_learning_rate"] = gr.Number(
                value=d["head_learning_rate"], label="Head learning rate", step=0.001
            )
            f["warmup_ratio"] = gr.Number(value=d["warmup_ratio"], label="Warmup ratio", step=0.01)
            f["weight_decay"] = gr.Number(value=d["weight_decay"], label="Weight decay", step=0.01)
        with gr.Row():
            f["eval_steps"] = gr.Number(
                value=d["eval_steps"], label="Evaluate every (steps)", precision=0, elem_id="eval-steps"
            )
            f["logging_steps"] = gr.Number(value=d["logging_steps"], label="Log every (steps)", precision=0)
            f["seed"] = gr.Number(value=d["seed"], label="Seed", precision=0)
            f["precision"] = gr.Dropdown(
                list(PRECISIONS),
                value=d["precision"],
                label="Precision",
                info="auto: bf16/fp16 on a GPU, fp32 on CPU",
            )
            f["save_merged"] = gr.Checkbox(value=d["save_merged"], label="Also save a merged model")
        err_training = _error_box("training")

    with gr.Row():
        yaml_btn = gr.Button("Show YAML", elem_id="show-yaml")
        start_btn = gr.Button("Start", variant="primary", elem_id="start-btn")
    status = gr.Markdown("", elem_id="start-status")
    yaml_code = gr.Code(
        language="yaml",
        label="The spec the job will run (python -m neat.train RUN.yaml)",
        visible=False,
        elem_id="spec-yaml",
        interactive=False,
    )

    errors = {"model": err_model, "dataset": err_dataset, "method": err_method, "training": err_training}
    tab = TrainTab(
        form=f,
        errors=errors,
        start_btn=start_btn,
        status=status,
        yaml=yaml_code,
        upload=upload,
        preview=preview,
        report=report,
        budget=budget,
        model_info=model_info,
    )
    _wire(tab, preset_buttons, yaml_btn)
    return tab


def _visibility(values: dict) -> dict:
    """Which inputs show for the chosen sources, task and method."""
    task = values.get("task") or "classification"
    method = values.get("method") or "neat"
    kind = values.get("data_kind")
    vis = {
        "model_embedded": values.get("model_kind") == MODEL_EMBEDDED,
        "model_path": values.get("model_kind") != MODEL_EMBEDDED,
        "data_builtin": kind == DATA_BUILTIN,
        "data_upload": kind == DATA_UPLOAD,
        "data_ref": kind == DATA_OTHER,
        "hub_split": kind == DATA_OTHER,
        "r": method != "full",
        "depth": method == "neat",
        "act_fn": method == "neat",
        "scaling": method == "neat",
        "lora_alpha": method == "lora",
        "target_modules": method != "full",
        "compare_lora": method == "neat",
    }
    for key in COLUMN_KEYS:
        vis[key] = key in TASK_COLUMNS.get(task, ())
    return vis


def _wire(tab: TrainTab, preset_buttons: dict, yaml_btn: gr.Button) -> None:
    f = tab.form
    inputs = tab.inputs()
    vis_keys = list(_visibility(FORM_DEFAULTS))
    vis_outputs = [f[k] for k in vis_keys] + [tab.upload]

    vis_inputs = [f[k] for k in ("model_kind", "data_kind", "task", "method")]

    def show(model_kind, data_kind, task, method):
        vis = _visibility({"model_kind": model_kind, "data_kind": data_kind, "task": task, "method": method})
        return [gr.update(visible=vis[k]) for k in vis_keys] + [gr.update(visible=vis["data_upload"])]

    for key in ("model_kind", "data_kind", "task", "method"):
        f[key].change(show, vis_inputs, vis_outputs, show_progress="hidden", queue=False)

    # -- model -> task, target modules, info, budget
    def model_handler(keep_task: bool):
        """keep_task: the form's task stays (a cloned or restored form); else the model suggests it."""

        def handler(*args):
            return on_model(values_of(args), keep_task)

        return handler

    def on_model(values, keep_task=False):
        s = model_summary(values)
        task = values["task"] if keep_task else (s["task"] or values["task"])
        values.update(task=task, target_modules=s["targets_value"])
        return {
            f["task"]: gr.update(value=task),
            f["target_modules"]: gr.update(choices=s["targets"], value=s["targets_value"]),
            tab.model_info: s["info"],
            tab.errors["model"]: format_errors(s["errors"]),
            tab.budget: budget_markdown(values),
        }

    model_outputs = [f["task"], f["target_modules"], tab.model_info, tab.errors["model"], tab.budget]
    # user events only: a form set by a preset, a clone or a reload is refreshed by refresh_after,
    # which keeps its task (a .change here would race it and re-suggest the task)
    for key in ("model_kind", "model_embedded", "trust_remote_code"):
        f[key].input(
            model_handler(False),
            inputs,
            model_outputs,
            trigger_mode="always_last",
            show_progress_on=[tab.model_info],
        )
    for event in (f["model_path"].submit, f["model_path"].blur):
        event(
            model_handler(False),
            inputs,
            model_outputs,
            trigger_mode="always_last",
            show_progress_on=[tab.model_info],
        )

    # -- budget, live
    def on_budget(*args):
        return budget_markdown(values_of(args))

    for key in ("method", "r", "depth", "target_modules", "task"):
        f[key].change(on_budget, inputs, tab.budget, show_progress="hidden", trigger_mode="always_last")

    # -- data -> preview, columns, task suggestion, check
    column_outputs = [f[k] for k in COLUMN_KEYS]
    data_outputs = [tab.preview, tab.errors["dataset"], tab.report, f["task"], *column_outputs]

    def data_handler(keep_task: bool):
        """keep_task: the task the form holds stays (chosen by hand, cloned or restored)."""

        def handler(*args):
            return on_data(values_of(args), keep_task)

        return handler

    def on_data(values, keep_task=False):
        if not dataset_ref(values):  # nothing chosen yet (e.g. Upload picked): no error, no preview
            return {
                tab.preview: gr.update(value=None, visible=False),
                tab.errors["dataset"]: "",
                tab.report: "",
            }
        try:
            s = dataset_summary(values)
        except UserError as exc:
            return {
                tab.preview: gr.update(value=None, visible=False),
                tab.errors["dataset"]: format_errors([FieldError("dataset.source", str(exc))]),
                tab.report: "",
            }
        except Exception as exc:  # noqa: BLE001
            return {
                tab.preview: gr.update(value=None, visible=False),
                tab.errors["dataset"]: format_errors(
                    [FieldError("dataset.source", backend.user_message(exc))]
                ),
                tab.report: "",
            }
        model_task = suggest_task_for_model(model_ref(values))
        task = values["task"] if keep_task else (model_task or s["task"] or values["task"])
        values["task"] = task
        mapping = mapped_columns(values, s["columns"], s["suggest"])
        values.update(mapping)
        report, data_errors = check_data(values)
        out = {
            tab.preview: gr.update(
                value=s["preview"], label=f"Preview (first rows of {s['rows']:,})", visible=True
            ),
            tab.errors["dataset"]: format_errors(data_errors),
            tab.report: report_markdown(report),
            f["task"]: gr.update(value=task),
        }
        for key in COLUMN_KEYS:
            choices = ([NO_COLUMN] if key in OPTIONAL_COLUMNS else []) + s["columns"]
            out[f[key]] = gr.update(choices=choices, value=mapping[key])
        return out

    data_events = [f[k].input for k in ("data_kind", "data_builtin")]
    data_events += [f[k].submit for k in ("data_ref", "hub_split")] + [
        f[k].blur for k in ("data_ref", "hub_split")
    ]
    for event in data_events:
        event(
            data_handler(False),
            inputs,
            data_outputs,
            trigger_mode="always_last",
            show_progress_on=[tab.report],
        )
    # the task chosen by hand: map the columns for it (and keep it)
    f["task"].input(
        data_handler(True), inputs, data_outputs, trigger_mode="always_last", show_progress_on=[tab.report]
    )

    # -- a column or the task changed by hand: check again (the preview stays)
    def on_columns(*args):
        values = values_of(args)
        if not dataset_ref(values):
            return {tab.errors["dataset"]: "", tab.report: ""}
        report, data_errors = check_data(values)
        return {tab.errors["dataset"]: format_errors(data_errors), tab.report: report_markdown(report)}

    for key in (*COLUMN_KEYS, "validation_source"):
        f[key].input(
            on_columns,
            inputs,
            [tab.errors["dataset"], tab.report],
            trigger_mode="always_last",
            show_progress_on=[tab.report],
        )

    # -- upload: sanitise, size-limit, store under NEAT_HOME/uploads; errors right under the field
    def on_upload(file, *args):
        if not file:
            return {f["data_upload"]: "", tab.errors["dataset"]: ""}
        path = file if isinstance(file, str) else getattr(file, "name", str(file))
        original = getattr(file, "orig_name", None) or Path(path).name
        try:
            stored = store_upload(path, original)
        except UploadError as exc:
            return {
                f["data_upload"]: "",
                tab.errors["dataset"]: format_errors([FieldError("dataset.source", str(exc))]),
                tab.preview: gr.update(value=None, visible=False),
                tab.report: "",
            }
        values = values_of(args)
        values.update(data_kind=DATA_UPLOAD, data_upload=str(stored))
        return {f["data_upload"]: str(stored), **on_data(values)}

    tab.upload.upload(
        on_upload,
        [tab.upload, *inputs],
        [f["data_upload"], *data_outputs],
        show_progress_on=[tab.report],
    )

    # -- presets
    def on_preset(name):
        def handler(*args):
            values = apply_preset(name, values_of(args))
            return [values[k] for k in FORM_KEYS]

        return handler

    # -- YAML and Start
    def on_yaml(*args):
        values = values_of(args)
        spec, errors = validate_form(values)
        specs = [spec] if errors else runs_for(values, spec)
        out = {tab.yaml: gr.update(value=specs_yaml(specs), visible=True)}
        out.update(_error_outputs(tab, errors))
        return out

    yaml_btn.click(on_yaml, inputs, [tab.yaml, *tab.errors.values()], show_progress="hidden")
    tab.extra.update(
        keep_task_model=model_handler(True),
        model_outputs=model_outputs,
        keep_task_data=data_handler(True),
        data_outputs=data_outputs,
    )
    for name, button in preset_buttons.items():
        refresh_after(button.click(on_preset(name), inputs, inputs, show_progress="hidden"), tab)


FORM_STORAGE_KEY = "neat-studio-train-form"


def refresh_after(dependency, tab: TrainTab):
    """After the form was set programmatically: describe the model, then read the data."""
    e = tab.extra
    return dependency.then(
        e["keep_task_model"], tab.inputs(), e["model_outputs"], show_progress_on=[tab.model_info]
    ).then(e["keep_task_data"], tab.inputs(), e["data_outputs"], show_progress_on=[tab.report])


def wire_load(demo: gr.Blocks, tab: TrainTab) -> None:
    """Keep the form across page reloads (in the browser's local storage) and, when a page
    opens, restore it, describe the model and read the dataset."""
    store = gr.BrowserState(None, storage_key=FORM_STORAGE_KEY, secret=config.browser_secret())

    def restore(saved):
        if not isinstance(saved, dict) or not saved:
            return [gr.skip()] * len(FORM_KEYS)
        values = {**FORM_DEFAULTS, **{k: v for k, v in saved.items() if k in FORM_DEFAULTS}}
        return form_updates(values, tab)

    refresh_after(demo.load(restore, [store], tab.inputs(), show_progress="hidden"), tab)

    # saved in the browser itself (no round trip): {form key: value}
    keys = json.dumps(list(FORM_KEYS))
    gr.on(
        [tab.form[k].change for k in FORM_KEYS],
        None,
        tab.inputs(),
        store,
        js=f"(...values) => Object.fromEntries({keys}.map((key, i) => [key, values[i]]))",
        show_progress="hidden",
    )


def _error_outputs(tab: TrainTab, errors: list[FieldError]) -> dict:
    grouped = errors_by_section(errors)
    return {tab.errors[s]: format_errors(grouped[s]) for s in SECTIONS}


def wire_start(tab: TrainTab, tabs: gr.Tabs, job_select: gr.Dropdown, refresh_choices) -> None:
    """Start: validate, queue (or show errors next to their fields), then jump to the job."""

    def on_start(*args):
        values = values_of(args)
        result = start(values)
        out = _error_outputs(tab, result.errors)
        if result.errors:
            out[tab.status] = f"✗ {result.message}"
            return out
        out[tab.status] = result.message
        out[tabs] = gr.Tabs(selected="jobs")
        out[job_select] = gr.update(choices=refresh_choices(), value=str(result.job_ids[0]))
        return out

    tab.start_btn.click(
        on_start,
        tab.inputs(),
        [*tab.errors.values(), tab.status, tabs, job_select],
        concurrency_limit=4,
        show_progress_on=[tab.status],
    )


def form_updates(values: dict, tab: TrainTab) -> dict:
    """Set every form field (Clone into the Train form); the model/data handlers then refresh."""
    out = {tab.form[k]: gr.update(value=values[k]) for k in FORM_KEYS}
    # make sure a value that is not among the current choices can be shown
    for key in COLUMN_KEYS:
        choices = [NO_COLUMN] if key in OPTIONAL_COLUMNS or not values[key] else []
        if values[key]:
            choices.append(values[key])
        out[tab.form[key]] = gr.update(value=values[key], choices=choices)
    out[tab.form["target_modules"]] = gr.update(
        value=values["target_modules"], choices=list(values["target_modules"] or [])
    )
    return out
