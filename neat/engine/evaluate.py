"""Score a finished run on a dataset: test metrics, error analysis and batch prediction.

    evaluate_run(run_dir)                  the run's own saved test split (neat/engine/holdout.py)
    evaluate_run(run_dir, data="new.csv")  any file, folder or hub dataset the training loaders read

writes metrics.json and predictions.csv (one row per input). A file without the label column
(or, for chat, without responses) gives predictions only: batch prediction. The model is the
Playground's (neat/engine/inference.py Predictor): same loading, device choice and precision.

metrics.json: {"task", "kind", "n", "labelled", "data"} plus, when labelled,
    classification: accuracy, macro_f1, labels, per_class, confusion_matrix (rows true, cols predicted)
    regression:     mse, mae, pearson, spearman
    causal_lm:      loss, perplexity, tokens
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

from datasets import Dataset, Image

from neat.engine.data import column_values, load_images, require_columns, source_dir
from neat.engine.errors import DatasetError, UserError
from neat.engine.holdout import load_source, load_test_split
from neat.engine.rundir import RunDir
from neat.engine.scoring import classification_metrics, language_model_metrics, regression_metrics

DEFAULT_MAX_NEW_TOKENS = 64  # chat answers: long enough to judge, short enough to batch on a CPU
TEST_SPLIT_NAME = "the run's test split"
ROLES = ("text", "text_pair", "label", "prompt", "response", "messages", "image")

Progress = Callable[[int, int], None]


def evaluate_run(
    run_dir,
    data=None,
    columns: dict | None = None,
    output_dir=None,
    batch_size: int = 32,
    device=None,
    progress: Progress | None = None,
    max_rows: int | None = None,
    *,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    predictor=None,
) -> dict:
    """Score the run in `run_dir` on `data` (None: its saved test split); return the metrics.

    Writes metrics.json and predictions.csv to `output_dir`; without one, into the run folder
    (its test split's scores as test_metrics.json). `columns` maps roles to this data's column
    names (None: the run's own). `predictor`: the run already loaded (training scores its kept
    checkpoint without loading it again).
    """
    from neat.engine.inference import Predictor

    if batch_size < 1:
        raise UserError(f"batch size must be a positive integer, got {batch_size}")
    run = RunDir(run_dir)
    spec = with_columns(predictor.spec if predictor is not None else run.read_spec(), columns)
    ds, name = _read(run, spec, data)
    if max_rows is not None and max_rows < len(ds):
        ds = ds.select(range(max(0, max_rows)))
    if len(ds) == 0:
        raise DatasetError(f"{name} has no rows to score")
    if predictor is None:
        predictor = Predictor.load(run.root, device=_device(device))
    out = Path(output_dir) if output_dir is not None else run.root
    out.mkdir(parents=True, exist_ok=True)
    tick = progress or (lambda done, total: None)
    if spec.task == "causal-lm":
        metrics, frame = _score_chat(predictor, ds, spec, batch_size, tick, max_new_tokens)
    else:
        metrics, frame = _score_classifier(predictor, ds, spec, batch_size, tick, out)
    metrics = {"task": spec.task, "data": name, **metrics}
    metrics_path = out / "metrics.json"
    if output_dir is None and data is None:
        metrics_path = run.test_metrics_path
    metrics_path.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    frame.to_csv(out / run.predictions_path.name, index=False)
    return metrics


def _device(device):
    """The requested device, refused plainly when it is a GPU this machine does not have."""
    import torch

    if device is not None and str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device} asked for, but this machine has no CUDA GPU; use cpu")
    return device


def with_columns(spec, columns: dict | None):
    """The spec with its column map overridden by `columns` (role -> column name)."""
    if not columns:
        return spec
    unknown = sorted(set(columns) - set(ROLES))
    if unknown:
        raise UserError(f"unknown column role(s) {', '.join(unknown)}; use {', '.join(ROLES)}")
    mapped = dataclasses.replace(spec.dataset.columns, **{k: v for k, v in columns.items() if v})
    return dataclasses.replace(spec, dataset=dataclasses.replace(spec.dataset, columns=mapped))


def parse_columns(text: str) -> dict[str, str]:
    """`text=review,label=stars` -> {"text": "review", "label": "stars"} (the CLI's --columns)."""
    columns = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        role, equals, column = (piece.strip() for piece in item.partition("="))
        if not equals or not role or not column:
            raise UserError(f"--columns: {item!r} is not ROLE=COLUMN (e.g. text=review,label=stars)")
        columns[role] = column
    unknown = sorted(set(columns) - set(ROLES))
    if unknown:
        raise UserError(f"--columns: unknown role(s) {', '.join(unknown)}; use {', '.join(ROLES)}")
    return columns


# -- reading the data ---------------------------------------------------------------------------
def _input_roles(spec) -> dict[str, str]:
    """The columns a prediction needs (labels and responses are optional: batch prediction)."""
    c = spec.dataset.columns
    if spec.task == "causal-lm":
        return {"messages": c.messages} if c.messages else {"prompt": c.prompt}
    if spec.task == "image-classification":
        return {"image": c.image}
    return {"text": c.text, **({"text_pair": c.text_pair} if c.text_pair else {})}


def _read(run: RunDir, spec, data) -> tuple[Dataset, str]:
    if data is None:
        ds, name, base = load_test_split(run.test_split), TEST_SPLIT_NAME, run.root
    else:
        source = str(data)
        ds = load_source(source, hub_source=spec.dataset.source)
        path = Path(source).expanduser()
        name = path.name if path.exists() else source
        base = source_dir(source)
    require_columns(ds, spec, f"the data to score ({name})", roles=_input_roles(spec))
    if spec.task == "image-classification":
        ds = load_images(ds, spec.dataset.columns.image, base)
    return ds, name


def _label_name(value) -> str:
    # as training names classes (neat/engine/tasks.py): 1.0 read from a CSV is class "1"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _labels(ds: Dataset, column: str) -> list | None:
    if column not in ds.column_names:
        return None
    values = column_values(ds, column)
    missing = sum(v is None or (isinstance(v, float) and math.isnan(v)) for v in values)
    if missing:
        raise DatasetError(
            f"{missing} of {len(values)} row(s) have no value in the label column {column!r}; "
            "fill them in, or remove the column to get predictions only"
        )
    return values


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(start + size, n)


# -- classification and regression --------------------------------------------------------------
def _score_classifier(predictor, ds: Dataset, spec, batch_size: int, tick: Progress, out: Path):
    import pandas as pd
    import torch

    cols = spec.dataset.columns
    image = spec.task == "image-classification"
    truth = _labels(ds, cols.label)
    frame = pd.DataFrame(_image_names(ds, cols.image, out) if image else _text_inputs(ds, cols))
    rows = []
    for start, stop in _batches(len(ds), batch_size):
        batch = ds[start:stop]
        if image:
            inputs = predictor.encode_images(batch[cols.image])
        else:
            pairs = [_text(t) for t in batch[cols.text_pair]] if cols.text_pair else None
            inputs = predictor.encode_texts([_text(t) for t in batch[cols.text]], pairs)
        logits = predictor.logits(inputs)
        rows.append(logits[:, 0] if predictor.regression else torch.softmax(logits, dim=-1))
        tick(stop, len(ds))
    scores = torch.cat(rows).numpy()
    n, labelled = len(ds), truth is not None
    if predictor.regression:
        predicted = [float(v) for v in scores]
        if labelled:
            frame["label"] = [float(v) for v in truth]
        frame["prediction"] = predicted
        metrics = regression_metrics([float(v) for v in truth], predicted) if labelled else {}
        return {"kind": "regression", "n": n, "labelled": labelled, **metrics}, frame
    names = predictor.labels or [str(i) for i in range(scores.shape[1])]
    predicted = [names[i] for i in scores.argmax(axis=1)]
    if labelled:
        frame["label"] = [_label_name(v) for v in truth]
    frame["prediction"] = predicted
    frame["confidence"] = scores.max(axis=1)
    for i, label in enumerate(names):
        frame[f"p:{label}"] = scores[:, i]
    metrics = classification_metrics(list(frame["label"]), predicted, names) if labelled else {}
    return {"kind": "classification", "n": n, "labelled": labelled, **metrics}, frame


def _text(value) -> str:
    return "" if value is None else str(value)


def _text_inputs(ds: Dataset, cols) -> dict[str, list[str]]:
    inputs = {"text": [_text(t) for t in column_values(ds, cols.text)]}
    if cols.text_pair:
        inputs["text_pair"] = [_text(t) for t in column_values(ds, cols.text_pair)]
    return inputs


def _image_names(ds: Dataset, column: str, out: Path) -> dict[str, list[str]]:
    """Per row, an image file to show next to its prediction: the image's own file where it
    still exists, else a copy written to out/images/ (images stored inside the data)."""
    items = column_values(ds.cast_column(column, Image(decode=False)), column)
    names = []
    for row, item in enumerate(items):
        path = Path((item or {}).get("path") or "")
        if path.is_absolute() and path.is_file():
            names.append(str(path))
            continue
        copy = out / "images" / f"{row}{path.suffix.lower() or '.png'}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        if (item or {}).get("bytes"):
            copy.write_bytes(item["bytes"])
        else:
            ds[row][column].save(copy)
        names.append(str(copy.relative_to(out)))
    return {"image": names}


# -- causal LM / chat ---------------------------------------------------------------------------
def _conversations(ds: Dataset, spec) -> tuple[list[list[dict]], list[str | None]]:
    """Per row: the turns before the answer, and the reference answer (None when absent)."""
    cols = spec.dataset.columns
    prompts, references = [], []
    if cols.messages:
        for chat in column_values(ds, cols.messages):
            turns = [{"role": m["role"], "content": _text(m["content"])} for m in chat or []]
            last = max((i for i, m in enumerate(turns) if m["role"] == "assistant"), default=None)
            prompts.append(turns if last is None else turns[:last])
            references.append(None if last is None else turns[last]["content"])
        return prompts, references
    answers = column_values(ds, cols.response) if cols.response in ds.column_names else [None] * len(ds)
    for prompt, answer in zip(column_values(ds, cols.prompt), answers):
        prompts.append([{"role": "user", "content": _text(prompt)}])
        references.append(None if answer is None else _text(answer))
    return prompts, references


def _score_chat(predictor, ds: Dataset, spec, batch_size: int, tick: Progress, max_new_tokens: int):
    import pandas as pd

    from neat.engine.tasks import CausalLMCollator, _render, encode_conversation

    tokenizer = predictor.processor
    turns, references = _conversations(ds, spec)
    labelled = any(r is not None for r in references)
    collate = CausalLMCollator(tokenizer.pad_token_id)
    base, adapted, losses = [], [], []
    nll_total, tokens_total = 0.0, 0
    for start, stop in _batches(len(ds), batch_size):
        rendered = [_render(tokenizer, t, add_generation_prompt=True) for t in turns[start:stop]]
        base += predictor.generate_answers(rendered, use_adapter=False, max_new_tokens=max_new_tokens)
        adapted += predictor.generate_answers(rendered, use_adapter=True, max_new_tokens=max_new_tokens)
        if labelled:
            chats = [
                t + [{"role": "assistant", "content": r or ""}]
                for t, r in zip(turns[start:stop], references[start:stop])
            ]
            encoded = [encode_conversation(tokenizer, c, spec.training.max_length) for c in chats]
            sums, counts = predictor.response_losses(collate(encoded))
            for total, count in zip(sums, counts):
                losses.append(total / count if count else None)  # answer cut off by max_length
                nll_total, tokens_total = nll_total + (total if count else 0.0), tokens_total + count
        tick(stop, len(ds))
    frame = pd.DataFrame({"prompt": [_prompt_text(t) for t in turns]})
    if labelled:
        frame["reference"] = references
    frame["base_answer"] = base
    frame["adapted_answer"] = adapted
    if labelled:
        frame["loss"] = losses
    metrics = language_model_metrics(nll_total, tokens_total) if labelled else {}
    return {"kind": "causal_lm", "n": len(ds), "labelled": labelled, **metrics}, frame


def _prompt_text(turns: list[dict]) -> str:
    """A single user turn as its text; a longer conversation as role: content lines."""
    if len(turns) == 1 and turns[0]["role"] == "user":
        return turns[0]["content"]
    return "\n".join(f"{t['role']}: {t['content']}" for t in turns)
