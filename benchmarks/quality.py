"""Quality: NEAT vs LoRA at the same trainable-parameter budget vs full fine-tuning.

Two cases, each a small learning-rate search with the SAME number of grid points per method
and several seeds per point; every grid point is reported, not only the best:

  a  embedded all-MiniLM-L6-v2 on Rotten Tomatoes (binary sentiment). A fixed, seeded,
     stratified test split of 2,000 reviews (seed 1234) is carved once and never used for
     tuning; each run trains on the remaining pool and selects its best checkpoint on the
     engine's own seeded validation split (10% of the pool). The best learning rate per
     method is picked by mean VALIDATION accuracy; test accuracy is reported for every point.
  b  embedded SmolLM2-135M-Instruct, chat SFT on chatterbot prompt/response pairs: loss and
     perplexity on a fixed held-out split (seed 1234), next to the untrained model's.

Every run goes through the training engine (neat.engine.train.run) exactly as the app runs it.
Results are cached per run under --work-dir, so an interrupted benchmark continues where it
stopped when run again with the same --work-dir and settings.

Run from the repository root (HF_HUB_OFFLINE=1 on machines without network):
  python benchmarks/quality.py --case a --json a.json --work-dir /tmp/quality   # full pool: hours on a CPU
  python benchmarks/quality.py --case a --max-train-rows 2000 --threads 1 --json a.json  # as in RESULTS.md
  python benchmarks/quality.py --case b --grid full --threads 1 --json b.json
  python benchmarks/quality.py --tiny --json tiny.json     # about a minute: every path on tiny models
  python benchmarks/quality.py --report a.json             # print the tables of an earlier run
Flags: --seeds N, --epochs E, --max-train-rows N, --grid quick|full, --lrs METHOD=LR,LR,...
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `neat` and `benchmarks` importable
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.common import format_table  # noqa: E402
from benchmarks.quality_runs import (  # noqa: E402
    TEST_SEED,
    CaseConfig,
    base_lm_reference,
    equal_budget,
    prepare_data,
    run_one,
)

METHODS = ("neat", "lora", "full")
TARGET_MARGIN_POINTS = 0.5  # NEAT mean test accuracy >= LoRA's + 0.5 points ...
TARGET_GAP_FRACTION = 0.5  # ... and closes >= half of LoRA's gap to full fine-tuning

# Learning-rate grids: the same number of points for every method.
GRIDS = {
    "a": {
        "quick": {"neat": [1e-3, 5e-3, 1e-2], "lora": [1e-3, 5e-3, 1e-2], "full": [2e-5, 5e-5, 1e-4]},
        "full": {"neat": [1e-3, 5e-3, 1e-2], "lora": [1e-3, 5e-3, 1e-2], "full": [2e-5, 5e-5, 1e-4]},
    },
    "b": {
        "quick": {"neat": [1e-3, 5e-3], "lora": [1e-3, 5e-3], "full": [2e-5, 1e-4]},
        "full": {"neat": [1e-3, 5e-3, 1e-2], "lora": [1e-3, 5e-3, 1e-2], "full": [2e-5, 5e-5, 1e-4]},
    },
}




# -- aggregation -------------------------------------------------------------------------------
def _mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n-1); no deviation from a single seed."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def aggregate(cfg: CaseConfig, runs: list[dict]) -> dict:
    classification = cfg.task == "classification"
    val_key, test_key = ("val_accuracy", "test_accuracy") if classification else ("val_loss", "test_loss")
    points = []
    for method in METHODS:
        for lr in cfg.grid[method]:
            chosen = [r for r in runs if r["method"] == method and r["lr"] == lr]
            val_mean, val_std = _mean_std([r[val_key] for r in chosen])
            test_mean, test_std = _mean_std([r[test_key] for r in chosen])
            point = {
                "method": method,
                "lr": lr,
                "scaling": chosen[0]["scaling"],
                "lora_alpha": chosen[0]["lora_alpha"],
                "r": chosen[0]["r"],
                "seeds": [r["seed"] for r in chosen],
                "val": [r[val_key] for r in chosen],
                "test": [r[test_key] for r in chosen],
                "val_mean": val_mean,
                "val_std": val_std,
                "test_mean": test_mean,
                "test_std": test_std,
                "trainable_parameters": chosen[0]["trainable_parameters"],
                "train_seconds_mean": statistics.fmean(r["train_seconds"] for r in chosen),
            }
            if not classification:
                point["test_perplexity_mean"] = statistics.fmean(r["test_perplexity"] for r in chosen)
            points.append(point)
    selected = {}
    for method in METHODS:
        candidates = [p for p in points if p["method"] == method]
        # model selection on validation only: highest accuracy, or lowest loss (ties: the lower rate)
        best = max(candidates, key=lambda p: p["val_mean"] if classification else -p["val_mean"])
        selected[method] = {
            k: best[k] for k in ("lr", "val_mean", "val_std", "test_mean", "test_std", "test")
        }
    return {"points": points, "selected": selected}


def verdict_a(selected: dict) -> dict:
    """The issue's target on the validation-selected learning rates, in accuracy points."""
    neat, lora, full = (selected[m]["test_mean"] * 100 for m in METHODS)
    margin = neat - lora
    gap = full - lora
    margin_met = margin >= TARGET_MARGIN_POINTS
    if gap > 0:
        closed = margin / gap
        gap_met = closed >= TARGET_GAP_FRACTION
    else:  # LoRA already at or above full fine-tuning: there is no gap to close
        closed, gap_met = None, margin >= 0
    return {
        "neat_test_mean_points": neat,
        "lora_test_mean_points": lora,
        "full_test_mean_points": full,
        "neat_minus_lora_points": margin,
        "lora_gap_to_full_points": gap,
        "gap_closed_fraction": closed,
        "margin_met": margin_met,
        "gap_met": gap_met,
        "met": bool(margin_met and gap_met),
        "rule": f"NEAT - LoRA >= {TARGET_MARGIN_POINTS} points AND (NEAT - LoRA) >= "
        f"{TARGET_GAP_FRACTION} x (full - LoRA), on mean test accuracy at each method's "
        "validation-selected learning rate",
    }


def paired_seed_differences(cfg: CaseConfig, runs: list[dict], selected: dict) -> dict:
    """NEAT - LoRA per seed at the selected rates (same seed: same validation split and head init)."""
    key = "test_accuracy" if cfg.task == "classification" else "test_loss"
    by = {(r["method"], r["lr"], r["seed"]): r[key] for r in runs}
    diffs = [
        by[("neat", selected["neat"]["lr"], s)] - by[("lora", selected["lora"]["lr"], s)] for s in cfg.seeds
    ]
    mean, std = _mean_std(diffs)
    result = {"per_seed": diffs, "mean": mean, "std": std, "ci95": None}
    if std is not None:  # a paired t interval over seeds: does the difference stand out of seed noise?
        from scipy.stats import t

        half = float(t.ppf(0.975, len(diffs) - 1)) * std / math.sqrt(len(diffs))
        result["ci95"] = [mean - half, mean + half]
    return result


# -- printing ----------------------------------------------------------------------------------
def _pct(mean: float, std: float | None) -> str:
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def _num(mean: float, std: float | None) -> str:
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def _hyper(point: dict) -> str:
    if point["method"] == "neat":
        return f"r={point['r']}, scaling={point['scaling']:g}"
    if point["method"] == "lora":
        return f"r={point['r']}, alpha={point['lora_alpha']:g}"
    return "all weights"


def render_case(result: dict) -> str:
    cfg = result["config"]
    classification = cfg["task"] == "classification"
    lines = [f"Case {cfg['key']}: {cfg['title']}"]
    data = result["data"]
    removed = ""
    if "duplicates_removed" in data:
        removed = f", after removing {data['duplicates_removed']:,} duplicates"
    head = f", head lr {cfg['head_learning_rate']:g}" if cfg["task"] == "classification" else ""
    lines.append(
        f"data: {data['pool_rows']:,} training-pool rows (the engine holds out "
        f"{cfg['validation_fraction']:.0%} of them for validation / model selection), "
        f"{data['test_rows']:,} held-out test rows (seed {TEST_SEED}{removed}); {cfg['epochs']:g} epoch(s), "
        f"batch {cfg['batch_size']}, max_length {cfg['max_length']}, warmup 6%, no weight decay{head}, "
        f"seeds {cfg['seeds']}"
    )
    b = result["budget"]
    lines.append(
        f"adapter parameters (count_adapter_params): NEAT r={b['neat_r']} {b['neat']:,} | "
        f"LoRA r={b['lora_r']} {b['lora']:,} | equal: {b['equal']} | "
        f"full fine-tuning trains all {b['base_model_parameters']:,}"
    )
    headers = ["method", "lr", "hyperparameters", "trainable params", "seeds"]
    if classification:
        headers += ["val acc % (mean ± sd)", "test acc % (mean ± sd)", "selected"]
    else:
        headers += ["val loss", "test loss (mean ± sd)", "test ppl", "selected"]
    rows = []
    for p in result["points"]:
        chosen = "<- best val" if result["selected"][p["method"]]["lr"] == p["lr"] else ""
        row = [p["method"], f"{p['lr']:g}", _hyper(p), f"{p['trainable_parameters']:,}", len(p["seeds"])]
        if classification:
            row += [_pct(p["val_mean"], p["val_std"]), _pct(p["test_mean"], p["test_std"]), chosen]
        else:
            row += [
                _num(p["val_mean"], p["val_std"]),
                _num(p["test_mean"], p["test_std"]),
                f"{p['test_perplexity_mean']:.2f}",
                chosen,
            ]
        rows.append(row)
    if not classification:
        base = result["base_reference"]
        rows.insert(
            0,
            [
                "base (no training)",
                "-",
                "-",
                "0",
                "-",
                "-",
                f"{base['test_loss']:.4f}",
                f"{base['test_perplexity']:.2f}",
                "",
            ],
        )
    lines.append(format_table(headers, rows))
    d = result["paired_neat_minus_lora"]
    unit = "points" if classification else "loss"
    scale = 100 if classification else 1
    per_seed = ", ".join(f"{scale * x:+.2f}" for x in d["per_seed"])
    interval = ""
    if d.get("ci95"):
        low, high = (scale * x for x in d["ci95"])
        interval = f"; mean {scale * d['mean']:+.2f}, paired 95% t-interval [{low:+.2f}, {high:+.2f}]"
    lines.append(f"NEAT - LoRA at the selected rates, per seed ({unit}): {per_seed}{interval}")
    if classification:
        v = result["target"]
        closed = "n/a" if v["gap_closed_fraction"] is None else f"{v['gap_closed_fraction']:.2f}"
        lines.append(
            f"target: NEAT - LoRA = {v['neat_minus_lora_points']:+.2f} points (need >= "
            f"{TARGET_MARGIN_POINTS}); LoRA's gap to full = {v['lora_gap_to_full_points']:+.2f} points, "
            f"fraction closed = {closed} (need >= {TARGET_GAP_FRACTION}) -> "
            f"{'MET' if v['met'] else 'NOT MET'}"
        )
    spent = result.get("run_seconds_total", result["wall_seconds"]) / 60
    lines.append(
        f"runs: {len(result['runs'])} ({result.get('cached_runs', 0)} read from the cache); training + "
        f"test evaluation of all runs took {spent:.1f} min, this invocation "
        f"{result['wall_seconds'] / 60:.1f} min"
    )
    return "\n".join(lines)


# -- the cases ---------------------------------------------------------------------------------
def case_config(key: str, args: argparse.Namespace, tiny_models: dict[str, str]) -> CaseConfig:
    grid = {m: list(v) for m, v in GRIDS[key][args.grid].items()}
    for method, lrs in (args.lrs or {}).items():
        grid[method] = lrs
    if key == "a":
        cfg = CaseConfig(
            key="a",
            title="all-MiniLM-L6-v2 on Rotten Tomatoes, test accuracy on held-out reviews",
            task="classification",
            model="embedded:minilm",
            targets=["query", "value"],
            r=8,
            seeds=list(range(args.seeds if args.seeds is not None else 3)),
            epochs=args.epochs if args.epochs is not None else 1.0,
            max_length=args.max_length or 64,
            batch_size=args.batch_size or 16,
            test_size=2000,
            max_train_rows=args.max_train_rows,
            validation_fraction=0.1,
            head_learning_rate=1e-3,
            neat_scaling=args.neat_scaling,
            lora_alpha_per_r=args.lora_alpha_per_r,
            grid=grid,
            eval_steps=args.eval_steps,
        )
    else:
        cfg = CaseConfig(
            key="b",
            title="SmolLM2-135M-Instruct chat SFT on chatterbot, loss on held-out pairs",
            task="causal-lm",
            model="embedded:smollm2",
            targets=["q_proj", "v_proj"],
            r=8,
            seeds=list(range(args.seeds if args.seeds is not None else 1)),
            epochs=args.epochs if args.epochs is not None else 1.0,
            max_length=args.max_length or 64,
            batch_size=args.batch_size or 8,
            test_size=200,
            max_train_rows=args.max_train_rows if args.max_train_rows is not None else 300,
            validation_fraction=0.1,
            head_learning_rate=1e-3,  # unused: a causal LM has no separate head
            neat_scaling=args.neat_scaling,
            lora_alpha_per_r=args.lora_alpha_per_r,
            grid=grid,
            eval_steps=args.eval_steps,
        )
    if args.max_train_rows == 0:
        cfg.max_train_rows = None
    if args.tiny:
        cfg.tiny = True
        cfg.model = tiny_models[key]
        cfg.test_size = 24
        cfg.max_train_rows = 60
        cfg.batch_size = 8
        cfg.max_length = 48
        cfg.validation_fraction = 0.2
        cfg.seeds = list(range(args.seeds if args.seeds is not None else 2))
    return cfg


def run_case(cfg: CaseConfig, work_dir: Path, keep_runs: bool) -> dict:
    started = time.time()
    case_dir = work_dir / f"case_{cfg.key}"
    data = prepare_data(cfg, case_dir)
    budget = equal_budget(cfg)
    print(
        f"case {cfg.key}: {data['pool_rows']} pool rows ({data['deduplicated_rows']} after removing "
        f"duplicates), {data['test_rows']} held-out test rows; NEAT r={budget['neat_r']} "
        f"{budget['neat']:,} vs LoRA r={budget['lora_r']} {budget['lora']:,} adapter parameters",
        flush=True,
    )
    cache_key = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("seeds", "grid")}
    runs = []
    # seed-major order: an interrupted benchmark still holds whole grids for its first seeds
    plan = [(m, lr, s) for s in cfg.seeds for m in METHODS for lr in cfg.grid[m]]
    for i, (method, lr, seed) in enumerate(plan, start=1):
        record = run_one(cfg, data, budget, method, lr, seed, case_dir, keep_runs, cache_key)
        runs.append(record)
        score = (
            f"val acc {100 * record['val_accuracy']:.2f}, test acc {100 * record['test_accuracy']:.2f}"
            if cfg.task == "classification"
            else f"val loss {record['val_loss']:.4f}, test loss {record['test_loss']:.4f}"
        )
        note = " (cached)" if record.get("cached") else f" ({record['train_seconds']:.0f} s)"
        print(f"  [{i}/{len(plan)}] {method} lr={lr:g} seed={seed}: {score}{note}", flush=True)
    if cfg.task == "classification":  # equal budget: the adapters' own trainable parameters
        trainable = {r["method"]: r["trainable_parameters"] for r in runs}
        budget["trainable_with_head"] = trainable
    result = {"config": dataclasses.asdict(cfg), "budget": budget, "runs": runs}
    result["data"] = {k: v for k, v in data.items() if k != "test"}
    result.update(aggregate(cfg, runs))
    result["paired_neat_minus_lora"] = paired_seed_differences(cfg, runs, result["selected"])
    if cfg.task == "classification":
        result["target"] = verdict_a(result["selected"])
    else:
        result["base_reference"] = base_lm_reference(cfg, data)
    result["wall_seconds"] = round(time.time() - started, 1)  # this invocation (cached runs are free)
    result["run_seconds_total"] = round(sum(r["train_seconds"] + r["test_seconds"] for r in runs), 1)
    result["cached_runs"] = sum(bool(r.get("cached")) for r in runs)
    return result


def build_tiny_models(folder: Path) -> dict[str, str]:
    """A 2-layer BERT and a 2-layer Llama (GQA, like SmolLM2) on the MiniLM vocabulary, random weights."""
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
        LlamaConfig,
        LlamaForCausalLM,
    )

    from neat.engine.assets import resolve_model_path

    tokenizer_path, _ = resolve_model_path("embedded:minilm")
    bert, llama = folder / "tiny-bert", folder / "tiny-llama"
    torch.manual_seed(0)
    if not (bert / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        BertForSequenceClassification(config).save_pretrained(bert)
        tokenizer.save_pretrained(bert)
    if not (llama / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        tokenizer.eos_token = "[SEP]"
        tokenizer.chat_template = (
            "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{{ eos_token }}\n{% endfor %}"
            "{% if add_generation_prompt %}[assistant] {% endif %}"
        )
        # hidden 48 with 2 of 6 heads for keys/values: v_proj is 48 -> 16, as SmolLM2's is 576 -> 192
        config = LlamaConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=48,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=6,
            num_key_value_heads=2,
            max_position_embeddings=128,
            eos_token_id=tokenizer.sep_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        LlamaForCausalLM(config).save_pretrained(llama)
        tokenizer.save_pretrained(llama)
    return {"a": str(bert), "b": str(llama)}


def _parse_lrs(values: list[str] | None) -> dict[str, list[float]]:
    grid: dict[str, list[float]] = {}
    for value in values or []:
        method, _, lrs = value.partition("=")
        if method not in METHODS or not lrs:
            raise SystemExit(f"--lrs expects METHOD=LR,LR,... with METHOD in {METHODS}, got {value!r}")
        grid[method] = [float(x) for x in lrs.split(",") if x.strip()]
    return grid


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/quality.py", description=__doc__.split("\n")[0])
    p.add_argument("--case", choices=["a", "b", "all"], default="all")
    p.add_argument(
        "--grid",
        choices=["quick", "full"],
        default="quick",
        help="learning-rate grid (case a: 3 rates either way; case b: 2 rates, full: 3)",
    )
    p.add_argument(
        "--lrs",
        action="append",
        metavar="METHOD=LR,LR",
        help="override one method's learning rates (repeatable); keep the sizes equal",
    )
    p.add_argument("--seeds", type=int, help="seeds per grid point (default: a 3, b 1, tiny 2)")
    p.add_argument("--epochs", type=float, help="training epochs (default 1)")
    p.add_argument(
        "--max-train-rows",
        type=int,
        help="cap the training pool (fixed rows, seed 1234; default: a all, b 300; 0: all)",
    )
    p.add_argument("--max-length", type=int, help="tokens per example (default 64)")
    p.add_argument("--batch-size", type=int, help="default: a 16, b 8")
    p.add_argument("--eval-steps", type=int, help="validation every N steps (default: 4 per run)")
    p.add_argument(
        "--neat-scaling",
        default="auto",
        help="NEAT scaling: 'auto' = 1.0 at lr <= 1e-3 and 0.1 above (default), or a number",
    )
    p.add_argument("--lora-alpha-per-r", type=float, default=1.0, help="LoRA alpha = this x r (default 1)")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default: torch's own; 1 is faster on a busy shared machine)")
    p.add_argument("--work-dir", help="runs, data splits and cached results (default: a temporary folder)")
    p.add_argument("--keep-runs", action="store_true", help="keep each run's output folder")
    p.add_argument("--json", help="write all results to this file")
    p.add_argument("--tiny", action="store_true", help="tiny random models and a few rows: a smoke run")
    p.add_argument("--report", metavar="JSON", help="print the tables of an earlier --json file; run nothing")
    args = p.parse_args(argv)
    args.lrs = _parse_lrs(args.lrs)
    if args.neat_scaling != "auto":
        try:
            float(args.neat_scaling)
        except ValueError:
            p.error("--neat-scaling must be 'auto' or a number")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text(encoding="utf-8"))
        print(f"{saved['meta']['command']}  ({saved['meta']['date']}, {saved['meta']['machine']})\n")
        print("\n\n".join(render_case(result) for result in saved["cases"].values()))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import datasets
    import peft
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()

    temporary = args.work_dir is None
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="neat-quality-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    tiny_models = build_tiny_models(work_dir / "tiny-models") if args.tiny else {}
    cases = ["a", "b"] if args.case == "all" else [args.case]
    results = {
        "meta": {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": "python benchmarks/quality.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}",
            "torch_threads": torch.get_num_threads(),
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
                "python": platform.python_version(),
            },
            "tiny": args.tiny,
            "std": "sample standard deviation over seeds (n-1)",
        },
        "cases": {},
    }
    try:
        for key in cases:
            cfg = case_config(key, args, tiny_models)
            result = run_case(cfg, work_dir, args.keep_runs)
            results["cases"][key] = result
            print()
            print(render_case(result))
            print(flush=True)
    finally:
        if temporary and not args.keep_runs:
            shutil.rmtree(work_dir, ignore_errors=True)
    results["meta"]["total_seconds"] = round(time.time() - started, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
