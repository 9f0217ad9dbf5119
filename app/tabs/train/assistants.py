"""The Train form's assistants: what the form shows about the chosen model and data as they
change — model summary and target-module choices, the live parameter budget, the dataset
preview, the suggested column mapping and the dataset check. Plain functions of form values
(no Gradio), each quick: models are described from their config, data read once (app/caches.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from app import backend, caches, paths
from app.backend import EMBEDDED_MODELS, TASKS, DatasetError, FieldError, UserError
from app.tabs.train.form import (
    COLUMN_KEYS,
    COLUMN_ROLE,
    DATA_UPLOAD,
    FORM_DEFAULTS,
    NO_COLUMN,
    OPTIONAL_COLUMNS,
    dataset_ref,
    equal_budget_rank,
    model_ref,
    validate_form,
)


def check_model_ref(ref: str) -> list[FieldError]:
    """Errors for a model reference that can be told wrong now (without any network)."""
    if not ref:
        return [
            FieldError("model.name_or_path", "must name a model: pick an embedded one, a folder or a hub id")
        ]
    if ref.startswith("embedded:"):
        return []
    refused = paths.check_ref(ref, "model.name_or_path", "model folder")  # same words found or not
    if refused:
        return refused
    path = Path(ref).expanduser()
    if paths.is_hub_id(ref) and not path.exists():
        return []
    if not path.is_dir() or not (path / "config.json").is_file():
        return [
            FieldError(
                "model.name_or_path", f"{ref} holds no config.json: is it a Hugging Face model folder?"
            )
        ]
    return []


def suggest_task_for_model(ref: str) -> str | None:
    """The task the model is made for, if it can be told; a server folder the app may not read
    (app/paths.py) tells nothing."""
    if not ref or paths.check_ref(ref, "model.name_or_path", "model folder"):
        return None
    return backend.model_task(ref)


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
        modules = caches.linear_modules(ref, trust)
    except Exception as exc:  # noqa: BLE001 - a hub id offline, a broken folder: say so, keep going
        out["info"] = (
            f"⚠ Could not read the model's layers ({backend.user_message(exc)}). The job will still try to "
            "load it; target modules fall back to the architecture's defaults."
        )
        return out
    choices = backend.module_choices(list(modules))
    defaults = [t for t in caches.default_targets(ref) if t in choices]
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
    task = values.get("task") or "classification"
    notes = []
    if method == "neat":
        notes = [f"**Note:** {w}." for w in backend.narrowing_warnings(ref, task, targets)]
    fit = backend.fit_markdown(validate_form(values)[0], num_labels)
    evidence = backend.defaults_evidence(task)
    return line + "".join(f"\n\n{part}" for part in (*notes, fit, evidence) if part)


def _fmt(n) -> str:
    if n is None:
        return "?"
    n = int(n)
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n:,}"


# ---- data --------------------------------------------------------------------------------------


def dataset_summary(values: dict) -> dict[str, Any]:
    """Preview rows, columns, suggested mapping and task for the form's dataset.

    Raises DatasetError (with the reader's message) when the data cannot even be read.
    """
    source = dataset_ref(values)
    if not source:
        raise DatasetError(
            "upload a file first" if values.get("data_kind") == DATA_UPLOAD else "name a dataset"
        )
    ds = caches.raw_dataset(source, values.get("hub_split") or "train")
    columns = list(ds.column_names)
    task = backend.suggest_task(columns)
    rows = backend.preview_rows(ds, 8)
    frame = pd.DataFrame(rows, columns=columns)
    for column in frame.columns:  # lists and dicts (chat turns) as readable text
        frame[column] = frame[column].map(
            lambda v: json.dumps(v, ensure_ascii=False)[:200] if isinstance(v, (list, dict)) else v
        )
    suggestions: dict[str, str] = {}
    for t in TASKS:
        for role, column in backend.suggest_columns(columns, t).items():
            suggestions.setdefault(role, column)
    return {"columns": columns, "rows": len(ds), "preview": frame, "task": task, "suggest": suggestions}


def mapped_columns(values: dict, columns: list[str], suggest: dict[str, str]) -> dict[str, str]:
    """Column picker values: keep a valid choice, else the suggestion, else the first column."""
    out = {}
    for key in COLUMN_KEYS:
        role = COLUMN_ROLE[key]
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


def check_data(values: dict):
    """Run neat's dataset check for the form: (report or None, list of dataset FieldErrors)."""
    spec, _ = validate_form(values)
    if not spec.dataset.source:
        return None, [FieldError("dataset.source", "name a dataset (built-in, upload or hub id)")]
    key = caches.CHECKS.key(spec)
    cached = caches.CHECKS.get(key)
    if cached is not None:
        return cached
    validation = spec.dataset.validation_source or ""
    refused = paths.check_ref(validation, "dataset.validation_source", "validation file")
    refused += paths.check_test_ref(spec.dataset.test_source or "")
    if refused:
        return None, refused
    try:
        raw = caches.raw_dataset(spec.dataset.source, spec.dataset.hub_split)
        result = (backend.check_dataset(spec, raw=raw, tokenizer=_tokenizer_for(spec)), [])
    except UserError as exc:
        result = (None, [FieldError("dataset.source", str(exc))])
    except Exception as exc:  # noqa: BLE001 - an unexpected reader failure is still about the data
        result = (None, [FieldError("dataset.source", backend.user_message(exc))])
    caches.CHECKS.put(key, result)
    return result


def _tokenizer_for(spec):
    """The model's tokenizer, so the check measures what max_length cuts as the job will; None
    (no token lengths) for images, models with their own code, or a model that does not load
    (its own error is shown on the model field)."""
    if spec.task == "image-classification" or spec.model.trust_remote_code:
        return None
    if check_model_ref(spec.model.name_or_path):
        return None
    try:
        return caches.tokenizer(spec.model.name_or_path, spec.task)
    except Exception:  # noqa: BLE001 - a hub id offline: the check goes on without token lengths
        return None


def report_markdown(report) -> str:
    """The check's result: ✓ only when it has nothing to warn about."""
    if report is None:
        return ""
    warnings = getattr(report, "warnings", [])
    if warnings:
        mark = f"⚠ {len(warnings)} warning{'s' if len(warnings) > 1 else ''} (see below)"
    else:
        mark = "✓"
    return f"**Dataset check** {mark} " + report.summary_markdown()


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
