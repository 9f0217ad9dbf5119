"""The quality benchmark's runs (benchmarks/quality.py): the case settings, a fixed held-out
split and a training pool, the equal parameter budget, and one training run through the
engine with its test evaluation, cached per run."""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import shutil
import time
from pathlib import Path

import torch

from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec

ROOT = Path(__file__).resolve().parents[1]
TEST_SEED = 1234  # the held-out split and the training-pool cap never change with the run seed


@dataclasses.dataclass
class CaseConfig:
    """Everything that decides a case's numbers (also written to the JSON and the cache key)."""

    key: str
    title: str
    task: str
    model: str
    targets: list[str]
    r: int  # LoRA rank; NEAT's rank is chosen to match LoRA's parameter count (see budget)
    seeds: list[int]
    epochs: float
    max_length: int
    batch_size: int
    test_size: int
    max_train_rows: int | None  # cap on the training pool (fixed rows, seed 1234); None: all
    validation_fraction: float
    head_learning_rate: float
    neat_scaling: str  # "auto" (1.0 at lr <= 1e-3, else 0.1) or a number
    lora_alpha_per_r: float  # LoRA alpha = this x r
    grid: dict[str, list[float]]
    eval_steps: int | None = None  # None: 4 evaluations per run
    tiny: bool = False


# -- data: a fixed held-out split and a training pool ------------------------------------------
def _dedupe(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """Drop exact duplicates, so no test example also sits in the training pool."""
    seen, kept = set(), []
    for row in rows:
        key = tuple(row[k] for k in keys)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def _sample(rows: list[dict], stratify: str, size: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(rest, sample): `size` rows drawn with a fixed seed, stratified by the `stratify` column."""
    from neat.engine.data import split_indices

    rest_idx, sample_idx = split_indices(len(rows), size / len(rows), seed, [row[stratify] for row in rows])
    return [rows[i] for i in rest_idx], [rows[i] for i in sample_idx]


def _carve(rows: list[dict], stratify: str, test_size: int, max_train_rows: int | None):
    """(pool, test): a seeded stratified test split, then an optional cap on the pool (fixed rows)."""
    pool, test = _sample(rows, stratify, test_size, TEST_SEED)
    if max_train_rows and max_train_rows < len(pool):
        _, pool = _sample(pool, stratify, max_train_rows, TEST_SEED + 1)
    return pool, test


def prepare_data(cfg: CaseConfig, case_dir: Path) -> dict:
    """Write pool and test files for a case; return their paths and sizes."""
    import pandas as pd

    from neat.engine.assets import builtin_dataset

    if cfg.task == "classification":
        ds = builtin_dataset("rotten_tomatoes")
        rows = [{"text": t, "label": label} for t, label in zip(ds["text"][:], ds["label"][:])]
        rows = _dedupe(rows, ("text",))
        stratify = "label"
    else:
        ds = builtin_dataset("chatterbot")
        rows = [
            {"prompt": p, "response": r, "topic": t}
            for p, r, t in zip(ds["prompt"][:], ds["response"][:], ds["topic"][:])
        ]
        rows = _dedupe(rows, ("prompt", "response"))
        stratify = "topic"
    duplicates = len(ds) - len(rows)
    if cfg.tiny:  # a small fixed sample keeps the smoke run to seconds
        _, rows = _sample(rows, stratify, 2 * (cfg.test_size + (cfg.max_train_rows or 0)), TEST_SEED + 2)
    pool, test = _carve(rows, stratify, cfg.test_size, cfg.max_train_rows)
    case_dir.mkdir(parents=True, exist_ok=True)
    pool_path, test_path = case_dir / "pool.jsonl", case_dir / "test.jsonl"
    if cfg.task == "classification":
        pool_path, test_path = case_dir / "pool.csv", case_dir / "test.csv"
        pd.DataFrame(pool).to_csv(pool_path, index=False)
        pd.DataFrame(test).to_csv(test_path, index=False)
    else:
        for path, part in ((pool_path, pool), (test_path, test)):
            with path.open("w", encoding="utf-8") as handle:
                for row in part:
                    handle.write(json.dumps(row) + "\n")
    return {
        "pool_path": str(pool_path),
        "test_path": str(test_path),
        "deduplicated_rows": len(rows),
        "duplicates_removed": duplicates,
        "pool_rows": len(pool),
        "test_rows": len(test),
        "test": test,
    }


# -- the equal budget --------------------------------------------------------------------------
def linear_modules(cfg: CaseConfig) -> tuple[list[tuple[str, int, int]], int]:
    """(name, in, out) of the base model's linear layers and its parameter count, on the meta device."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    from neat.engine.assets import resolve_model_path
    from neat.tuner import list_linear_modules

    path, extra = resolve_model_path(cfg.model)
    config = AutoConfig.from_pretrained(path, **extra)
    auto = AutoModelForSequenceClassification if cfg.task == "classification" else AutoModelForCausalLM
    with torch.device("meta"):
        model = auto.from_config(config)
    modules = list_linear_modules(model)
    total = sum(p.numel() for p in model.parameters())
    return modules, total


def equal_budget(cfg: CaseConfig) -> dict:
    """NEAT's rank whose adapter has exactly LoRA's parameter count at rank cfg.r, if one exists.

    NEAT costs 2*r*out per module, LoRA r*(in+out): equal ranks give equal counts only on square
    layers. SmolLM2's v_proj is 576 -> 192 (grouped-query attention), so NEAT needs a larger rank
    there; among ranks up to 4*r we take the one that matches exactly, else the largest below.
    """
    from neat.tuner import count_adapter_params

    modules, total = linear_modules(cfg)
    lora = count_adapter_params(modules, cfg.targets, cfg.r)["lora"]
    best_r, best = 1, count_adapter_params(modules, cfg.targets, 1)["neat"]
    for r in range(1, 4 * cfg.r + 1):
        count = count_adapter_params(modules, cfg.targets, r)
        if count["neat"] <= lora:
            best_r, best = r, count["neat"]
    counts = count_adapter_params(modules, cfg.targets, best_r)
    return {
        "lora_r": cfg.r,
        "neat_r": best_r,
        "lora": lora,
        "neat": best,
        "modules": counts["modules"],
        "equal": best == lora,
        "base_model_parameters": total,
    }


# -- one training run --------------------------------------------------------------------------
def neat_scaling(cfg: CaseConfig, lr: float) -> float:
    if cfg.neat_scaling == "auto":
        return 1.0 if lr <= 1e-3 else 0.1
    return float(cfg.neat_scaling)


def build_spec(
    cfg: CaseConfig, data: dict, budget: dict, method: str, lr: float, seed: int, eval_steps: int
) -> RunSpec:
    if cfg.task == "classification":
        columns = ColumnMap(text="text", label="label")
    else:
        columns = ColumnMap(prompt="prompt", response="response")
    r = budget["neat_r"] if method == "neat" else cfg.r
    return RunSpec(
        name=f"quality-{cfg.key}-{method}-lr{lr:g}-s{seed}",
        task=cfg.task,
        model=ModelSpec(cfg.model),
        dataset=DataSpec(data["pool_path"], columns, validation_fraction=cfg.validation_fraction),
        method=MethodSpec(
            method,
            r=r,
            depth=0,
            act_fn="relu",
            scaling=neat_scaling(cfg, lr) if method == "neat" else 1.0,
            target_modules=list(cfg.targets),
            lora_alpha=cfg.lora_alpha_per_r * cfg.r if method == "lora" else None,
        ),
        training=TrainingSpec(
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            learning_rate=lr,
            head_learning_rate=cfg.head_learning_rate,
            warmup_ratio=0.06,
            weight_decay=0.0,
            max_length=cfg.max_length,
            eval_steps=eval_steps,
            logging_steps=max(1, eval_steps // 2),
            save_total_limit=1,
            seed=seed,
            precision="fp32",
        ),
    )


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.inference_mode()
def test_accuracy(model, tokenizer, labels: list[str], test: list[dict], max_length: int) -> float:
    """Accuracy on the held-out rows; texts sorted by length so padding stays small."""
    model.eval()
    index = {name: i for i, name in enumerate(labels)}
    order = sorted(range(len(test)), key=lambda i: len(test[i]["text"]))
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
        correct += sum(int(p == index[str(test[i]["label"])]) for p, i in zip(preds, chunk))
    return correct / len(test)


@torch.inference_mode()
def test_lm_loss(model, tokenizer, test: list[dict], max_length: int) -> dict:
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
        if any(t != -100 for t in item["labels"]):  # as training: rows with no answer token left out
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
    return {"loss": mean, "perplexity": math.exp(min(mean, 50.0)), "rows": len(encoded), "tokens": tokens}


def evaluate_run(cfg: CaseConfig, run_dir: Path, test: list[dict]) -> dict:
    from neat.engine.inference import load_run_model, load_run_processor
    from neat.engine.rundir import RunDir

    spec = RunDir(run_dir).read_spec()
    model = load_run_model(run_dir, spec)
    tokenizer = load_run_processor(run_dir, spec)
    if cfg.task == "classification":
        labels, _ = RunDir(run_dir).read_labels(spec.task)
        return {"test_accuracy": test_accuracy(model, tokenizer, labels, test, cfg.max_length)}
    result = test_lm_loss(model, tokenizer, test, cfg.max_length)
    return {"test_loss": result["loss"], "test_perplexity": result["perplexity"]}


def base_lm_reference(cfg: CaseConfig, data: dict) -> dict:
    """The untrained model's loss on the same held-out split: the floor every method starts from."""
    from neat.engine.loading import load_base_model, load_processor

    spec = RunSpec(task=cfg.task, model=ModelSpec(cfg.model))
    result = test_lm_loss(load_base_model(spec), load_processor(spec), data["test"], cfg.max_length)
    return {
        "test_loss": result["loss"],
        "test_perplexity": result["perplexity"],
        "test_rows": result["rows"],
        "test_tokens": result["tokens"],
    }


def run_one(
    cfg: CaseConfig,
    data: dict,
    budget: dict,
    method: str,
    lr: float,
    seed: int,
    case_dir: Path,
    keep_runs: bool,
    cache_key: dict,
) -> dict:
    """Train one grid point with one seed (or read its cached result) and evaluate it on the test rows."""
    from neat.engine.train import run

    name = f"{method}-lr{lr:g}-s{seed}"
    cached = case_dir / "results" / f"{name}.json"
    if cached.is_file():
        record = json.loads(cached.read_text())
        if record.get("cache_key") == cache_key:
            record["cached"] = True
            return record
    steps_per_epoch = math.ceil(data["pool_rows"] * (1 - cfg.validation_fraction) / cfg.batch_size)
    eval_steps = cfg.eval_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs / 4))
    spec = build_spec(cfg, data, budget, method, lr, seed, eval_steps)
    run_dir = case_dir / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.time()
    summary = run(spec, run_dir)
    trained = time.time()
    test = evaluate_run(cfg, run_dir, data["test"])
    record = {
        "method": method,
        "lr": lr,
        "seed": seed,
        "r": spec.method.r if method != "full" else None,
        "scaling": spec.method.scaling if method == "neat" else None,
        "lora_alpha": spec.method.lora_alpha if method == "lora" else None,
        "global_step": summary["global_step"],
        "eval_steps": eval_steps,
        "trainable_parameters": summary["trainable_parameters"],
        "train_seconds": round(trained - started, 1),
        "test_seconds": round(time.time() - trained, 1),
        "cache_key": cache_key,
    }
    if cfg.task == "classification":
        record["val_accuracy"] = summary["eval"]["eval_accuracy"]
    else:
        record["val_loss"] = summary["eval"]["eval_loss"]
    record.update(test)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(record, indent=2))
    if not keep_runs:  # checkpoints (and full models) are large; the numbers are in the record
        shutil.rmtree(run_dir, ignore_errors=True)
    gc.collect()
    return record
