"""The runs of the quality suite (benchmarks/quality.py): NEAT's rank at LoRA's parameter
budget, the spec of one grid point at its method's defaults, and one training run with its
held-out test, cached per run so a rerun continues where it stopped.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import time
from pathlib import Path

from benchmarks.quality_tasks import TaskConfig, evaluate_run
from neat.engine.defaults import with_method_defaults
from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec


# -- equal budget ------------------------------------------------------------------------------
def equal_budget(cfg: TaskConfig) -> dict:
    """NEAT's rank whose adapter has LoRA's parameter count at rank cfg.r (else the largest below).

    NEAT costs 2*r*out per module, LoRA r*(in+out): equal only on square layers; SmolLM2's
    v_proj is 576 -> 192, so NEAT gets a larger rank there.
    """
    from neat.engine.budget import describe_linear_modules
    from neat.tuner import count_adapter_params

    modules = describe_linear_modules(cfg.model, cfg.task)
    lora = count_adapter_params(modules, cfg.targets, cfg.r)["lora"]
    best_r = 1
    for r in range(1, 4 * cfg.r + 1):
        if count_adapter_params(modules, cfg.targets, r)["neat"] <= lora:
            best_r = r
    neat = count_adapter_params(modules, cfg.targets, best_r)["neat"]
    return {"lora_r": cfg.r, "neat_r": best_r, "lora": lora, "neat": neat, "equal": neat == lora}


# -- one run -----------------------------------------------------------------------------------
# method -> {MethodSpec field: value} set on top of the method's defaults: a variant of the
# suite (benchmarks/quality.py --neat-a-lr-scale). Its runs carry the field in their settings,
# so they are cached apart from the defaults' runs (keep them in their own --results-dir).
METHOD_OVERRIDES: dict[str, dict] = {}


def build_spec(cfg: TaskConfig, data: dict, budget: dict, method: str, lr: float, seed: int) -> RunSpec:
    columns = {
        "classification": ColumnMap(text="text", label="label"),
        "causal-lm": ColumnMap(prompt="prompt", response="response"),
        "image-classification": ColumnMap(image="image", label="label"),
    }[cfg.task]
    steps = math.ceil(data["pool_rows"] * (1 - cfg.validation_fraction) / cfg.batch_size) * cfg.epochs
    eval_steps = max(1, math.ceil(steps / 4))
    base = RunSpec(
        name=f"quality-{cfg.key}-{method}-lr{lr:g}-s{seed}",
        task=cfg.task,
        model=ModelSpec(cfg.model),
        dataset=DataSpec(data["pool_path"], columns, validation_fraction=cfg.validation_fraction),
        method=MethodSpec("neat", r=budget["neat_r"], depth=0, target_modules=list(cfg.targets)),
        training=TrainingSpec(
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            max_length=cfg.max_length,
            eval_steps=eval_steps,
            logging_steps=max(1, eval_steps // 2),
            save_total_limit=1,
            seed=seed,
            precision="auto",  # what the app runs: bf16 autocast on CPUs with native bf16
        ),
    )
    spec = with_method_defaults(base, method)  # the method's own defaults, as the app uses them
    for field, value in METHOD_OVERRIDES.get(method, {}).items():  # a variant (--neat-a-lr-scale)
        setattr(spec.method, field, value)
    if method == "lora":
        spec.method.r = cfg.r
    spec.training.learning_rate = lr
    return spec


def method_fields(spec: RunSpec) -> dict:
    m = spec.method
    if m.name == "neat":
        fields = {"r": m.r, "scaling": m.scaling, "neat_init": m.neat_init, "act_fn": m.act_fn}
        if m.neat_a_lr_scale != 1.0:  # only then: the records of runs before the field stay valid
            fields["neat_a_lr_scale"] = m.neat_a_lr_scale
        return fields
    if m.name == "lora":
        return {"r": m.r, "lora_alpha": m.lora_alpha or m.r}
    return {}


def result_path(results_dir: Path, method: str, lr: float, seed: int) -> Path:
    return results_dir / f"{method}-lr{lr:g}-s{seed}.json"


def run_one(
    cfg, data, budget, method, lr, seed, task_dir: Path, results_dir: Path, task_key: dict, cached_only=False
) -> dict | None:
    """Train one grid point with one seed under task_dir (or read its cached result from
    results_dir) and test it. cached_only: None instead of training (no result, or one for
    other settings)."""
    from neat.engine.train import run

    spec = build_spec(cfg, data, budget, method, lr, seed)
    cache_key = {
        **task_key,
        "method": method_fields(spec),
        "head_learning_rate": spec.training.head_learning_rate,
        "precision": spec.training.precision,
    }
    name = f"{method}-lr{lr:g}-s{seed}"
    cached = result_path(results_dir, method, lr, seed)
    if cached.is_file():
        record = json.loads(cached.read_text())
        if record.get("cache_key") == cache_key:
            return {**record, "cached": True}
    if cached_only:
        return None
    run_dir = task_dir / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.time()
    summary = run(spec, run_dir)
    trained = time.time()
    record = {
        "method": method,
        "lr": lr,
        "seed": seed,
        **method_fields(spec),
        "head_learning_rate": spec.training.head_learning_rate,
        "precision": summary.get("precision"),
        "global_step": summary["global_step"],
        "trainable_parameters": summary["trainable_parameters"],
        "val": summary["eval"]["eval_loss" if cfg.metric == "loss" else "eval_accuracy"],
        **evaluate_run(cfg, run_dir, data["test"]),
        "train_seconds": round(trained - started, 1),
        "test_seconds": round(time.time() - trained, 1),
        "cache_key": cache_key,
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(record, indent=2))
    shutil.rmtree(run_dir, ignore_errors=True)  # checkpoints are large; the numbers are kept
    gc.collect()
    return record
