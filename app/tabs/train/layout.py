"""The Train tab's components, drawn in four sections (model, data, method, training) with
the errors of each section under it; no behaviour here (see events.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from app import access
from app.backend import (
    ACTIVATIONS,
    BUILTIN_DATASETS,
    EMBEDDED_MODELS,
    METHODS,
    NEAT_INITS,
    PRECISIONS,
    TASKS,
)
from app.tabs.train import sweep
from app.tabs.train.form import (
    DATA_KINDS,
    FORM_DEFAULTS,
    FORM_KEYS,
    MODEL_KINDS,
    NO_COLUMN,
    TASK_COLUMNS,
)
from app.tabs.train.presets import PRESET_HELP, QUICK_DEMO_TIME


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
    preset_buttons: dict[str, gr.Button]
    yaml_btn: gr.Button
    extra: dict[str, Any] = field(default_factory=dict)

    def inputs(self) -> list:
        return [self.form[k] for k in FORM_KEYS]


def values_of(args) -> dict:
    return dict(zip(FORM_KEYS, args))


def _error_box(section: str) -> gr.Markdown:
    return gr.Markdown("", elem_id=f"err-{section}", elem_classes=["field-error"])


def build() -> TrainTab:
    """Draw the Train tab's components (inside a gr.Tab context); events.wire() wires them."""
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
            f"Quick CPU demo trains in {QUICK_DEMO_TIME}.</span>"
        )
    # what the last preset changed (app/tabs/train/presets.py)
    preset_note = gr.Markdown("", elem_id="preset-note", padding=True)

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
                value=d["trust_remote_code"],
                label="Trust remote code",
                info="only for hub models you trust",
                visible=access.remote_code_allowed(),  # the operator's decision: --allow-remote-code
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
        # full width, on its own row: room for "Drop File Here" under the label and the whole file name
        upload = gr.File(
            label="Upload CSV, TSV, JSON(L), Parquet or a zip of image folders",
            file_types=[".csv", ".tsv", ".json", ".jsonl", ".parquet", ".zip"],
            visible=False,
            elem_id="data-upload",
            height=160,
        )
        f["data_upload"] = gr.Textbox(
            value=d["data_upload"],
            label="Stored as",
            interactive=False,
            visible=False,
            elem_id="data-stored",
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
            f["test_fraction"] = gr.Number(
                value=d["test_fraction"],
                label="Test fraction",
                info="held out and scored once after training; 0: none",
                elem_id="test-fraction",
            )
            f["test_source"] = gr.Textbox(
                value=d["test_source"],
                label="Test file (optional)",
                placeholder="a path on the server; replaces the test fraction",
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
            f["compare_seeds"] = gr.Number(
                value=d["compare_seeds"],
                label="Seeds to compare",
                info="1-5: NEAT and LoRA on each, for an interval that survives noise",
                precision=0,
                minimum=1,
                maximum=5,
                elem_id="compare-seeds",
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
            f["neat_init"] = gr.Dropdown(
                list(NEAT_INITS),
                value=d["neat_init"],
                label="Initialisation",
                info="calibrated: A scaled per layer so the update size does not depend on W0's scale; "
                "kaiming: PEFT's stock init",
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
                info="each method's own default for the task; a number you type stays",
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
            f["num_devices"] = gr.Number(
                value=d["num_devices"],
                label="Devices (GPUs)",
                info="data-parallel, one process per GPU; more than 1 needs a worker that owns that "
                "many GPUs (--gpus-per-worker)",
                precision=0,
                minimum=1,
                maximum=16,
                elem_id="num-devices",
            )
            f["save_merged"] = gr.Checkbox(value=d["save_merged"], label="Also save a merged model")
        err_training = _error_box("training")
    sweep_boxes, sweep_size = sweep.build(d)
    f.update(sweep_boxes)

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
        preset_buttons=preset_buttons,
        yaml_btn=yaml_btn,
    )
    tab.extra["sweep_size"] = sweep_size
    tab.extra["preset_note"] = preset_note
    return tab
