"""Per-task preparation: label encoding, tokenisation, collators and evaluation metrics."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import DataCollatorWithPadding

from neat.engine.data import label_kind
from neat.engine.errors import DatasetError
from neat.engine.metrics import main_metric


@dataclass
class LabelInfo:
    names: list[str] | None  # class names in id order; None for regression
    regression: bool = False

    def to_json(self) -> dict:
        return {"regression": True} if self.regression else {"labels": self.names}


@dataclass
class PreparedTask:
    train: Dataset
    eval: Dataset
    collator: Callable
    compute_metrics: Callable | None
    main_metric: str  # without the eval_ prefix (neat.engine.metrics.main_metric)


def label_info(spec, train: Dataset, eval_ds: Dataset) -> LabelInfo | None:
    if spec.task == "causal-lm":
        return None
    column = spec.dataset.columns.label
    values = list(train[column]) + list(eval_ds[column])
    kind = label_kind(values)
    if kind == "regression":
        if spec.task == "image-classification":
            raise DatasetError(
                f"label column {column!r} holds fractional numbers; image classification needs classes"
            )
        return LabelInfo(None, regression=True)
    if kind == "integer":
        names = [str(v) for v in sorted({int(v) for v in values})]
    else:
        names = sorted({str(v) for v in values})
    return LabelInfo(names)


def _label_ids(values, info: LabelInfo) -> list:
    if info.regression:
        return [float(v) for v in values]
    index = {name: i for i, name in enumerate(info.names)}
    return [index[str(int(v)) if isinstance(v, float) else str(v)] for v in values]


# -- text classification ---------------------------------------------------------------------
def prepare_classification(spec, tokenizer, train, eval_ds, info: LabelInfo) -> PreparedTask:
    cols = spec.dataset.columns

    def encode(batch):
        texts = [str(t) if t is not None else "" for t in batch[cols.text]]
        pairs = [str(t) if t is not None else "" for t in batch[cols.text_pair]] if cols.text_pair else None
        out = tokenizer(texts, pairs, truncation=True, max_length=spec.training.max_length)
        out["labels"] = _label_ids(batch[cols.label], info)
        return out

    train, eval_ds = (ds.map(encode, batched=True, remove_columns=ds.column_names) for ds in (train, eval_ds))
    if info.regression:
        return PreparedTask(
            train,
            eval_ds,
            DataCollatorWithPadding(tokenizer),
            regression_metrics,
            main_metric(spec.task, True),
        )
    return PreparedTask(
        train, eval_ds, DataCollatorWithPadding(tokenizer), class_metrics, main_metric(spec.task)
    )


def class_metrics(eval_pred) -> dict[str, float]:
    from sklearn.metrics import f1_score

    logits, labels = eval_pred.predictions, eval_pred.label_ids
    logits = logits[0] if isinstance(logits, tuple) else logits
    preds = np.asarray(logits).argmax(-1)
    return {
        "accuracy": float((preds == labels).mean()),
        "macro_f1": float(f1_score(labels, preds, average="macro")),
    }


def regression_metrics(eval_pred) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    preds = np.asarray(eval_pred.predictions).reshape(-1)
    labels = np.asarray(eval_pred.label_ids).reshape(-1)
    constant = np.allclose(preds, preds[0]) or np.allclose(labels, labels[0])
    return {
        "pearson": 0.0 if constant else float(pearsonr(preds, labels)[0]),
        "spearman": 0.0 if constant else float(spearmanr(preds, labels)[0]),
        "mse": float(((preds - labels) ** 2).mean()),
    }


# -- causal LM supervised fine-tuning --------------------------------------------------------
def _conversations(spec, batch) -> list[list[dict]]:
    cols = spec.dataset.columns
    if cols.messages:
        return [list(m) for m in batch[cols.messages]]
    return [
        [{"role": "user", "content": str(p)}, {"role": "assistant", "content": str(r)}]
        for p, r in zip(batch[cols.prompt], batch[cols.response])
    ]


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    # No template: a plain "User:/Assistant:" transcript the Playground uses the same way.
    text = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages)
    return text + ("Assistant:" if add_generation_prompt else "")


def encode_conversation(tokenizer, messages: list[dict], max_length: int) -> dict[str, list[int]]:
    """Token ids of the whole chat and labels that keep only the assistant turns' tokens."""
    input_ids: list[int] = []
    labels: list[int] = []
    rendered_so_far = ""
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            prompt_text = _render(tokenizer, messages[:i], add_generation_prompt=True)
        else:
            prompt_text = _render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        full_text = _render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if message["role"] == "assistant" and not tokenizer.chat_template and tokenizer.eos_token:
            full_text += tokenizer.eos_token
        # Tokenise the new pieces only, so earlier tokens never shift.
        prefix_piece = (
            prompt_text[len(rendered_so_far) :] if prompt_text.startswith(rendered_so_far) else prompt_text
        )
        prefix_ids = tokenizer(prefix_piece, add_special_tokens=not input_ids)["input_ids"]
        input_ids += prefix_ids
        labels += [-100] * len(prefix_ids)
        if message["role"] == "assistant":
            answer_piece = full_text[len(prompt_text) :]
            answer_ids = tokenizer(answer_piece, add_special_tokens=False)["input_ids"]
            input_ids += answer_ids
            labels += answer_ids
        rendered_so_far = full_text if message["role"] == "assistant" else prompt_text
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length]}


class CausalLMCollator:
    """Right-pads input ids with the pad id and labels with -100."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), -100, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def prepare_causal_lm(spec, tokenizer, train, eval_ds) -> PreparedTask:
    max_length = spec.training.max_length

    def encode(batch):
        encoded = [encode_conversation(tokenizer, conv, max_length) for conv in _conversations(spec, batch)]
        return {"input_ids": [e["input_ids"] for e in encoded], "labels": [e["labels"] for e in encoded]}

    train, eval_ds = (ds.map(encode, batched=True, remove_columns=ds.column_names) for ds in (train, eval_ds))
    # Rows whose answer was cut off entirely teach nothing and would give a NaN loss.
    train = train.filter(lambda row: any(t != -100 for t in row["labels"]))
    eval_ds = eval_ds.filter(lambda row: any(t != -100 for t in row["labels"]))
    if len(train) == 0 or len(eval_ds) == 0:
        raise DatasetError(
            f"no response tokens fit in max_length={max_length}; raise training.max_length or shorten prompts"
        )
    return PreparedTask(
        train, eval_ds, CausalLMCollator(tokenizer.pad_token_id), None, main_metric(spec.task)
    )


def perplexity(eval_loss: float) -> float:
    return math.exp(min(eval_loss, 50.0))


# -- image classification --------------------------------------------------------------------
def prepare_image(spec, processor, train, eval_ds, info: LabelInfo) -> PreparedTask:
    cols = spec.dataset.columns

    def transform(batch):
        images = [img.convert("RGB") for img in batch[cols.image]]
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixels, "labels": _label_ids(batch[cols.label], info)}

    train = train.with_transform(transform)
    eval_ds = eval_ds.with_transform(transform)

    def collate(features):
        return {
            "pixel_values": torch.stack([f["pixel_values"] for f in features]),
            "labels": torch.tensor([f["labels"] for f in features]),
        }

    return PreparedTask(train, eval_ds, collate, class_metrics, main_metric(spec.task))


def prepare_task(spec, processor, train, eval_ds, info: LabelInfo | None) -> PreparedTask:
    if spec.task == "classification":
        return prepare_classification(spec, processor, train, eval_ds, info)
    if spec.task == "causal-lm":
        return prepare_causal_lm(spec, processor, train, eval_ds)
    return prepare_image(spec, processor, train, eval_ds, info)
