"""Quality suite: NEAT vs LoRA at the same trainable-parameter budget vs full fine-tuning.

Five tasks from the shipped assets (benchmarks/quality_tasks.py): Rotten Tomatoes sentiment,
chatterbot prompt -> topic (21 classes), 2016 debate turn -> party, SmolLM2 chat SFT on
chatterbot, digits images on a random ViT. Per task: exact duplicates removed, a held-out test
split carved once (seed 1234), 3 seeds, a learning-rate grid per method with every point
reported, and every choice (best rate) made on VALIDATION only. Each method runs at its own
defaults (neat/engine/defaults.py) apart from the learning rate being searched, so the point at the
default rate is what a user gets out of the box.

Every run goes through the training engine (neat.engine.train.run) as the app runs it; the
runs themselves (equal budget, spec, one cached run) are in benchmarks/quality_runs.py. Results are
cached per run under --work-dir: a rerun with the same --work-dir continues where it stopped,
and the report covers whatever has finished (marked partial).

Run from the repository root (HF_HUB_OFFLINE=1 on machines without network):
  nice -n 19 python benchmarks/quality.py --threads 1 --work-dir W --json W/suite.json   # hours
  python benchmarks/quality.py --quick --work-dir W --json quick.json   # 1 seed, fewer rows/rates
  python benchmarks/quality.py --tasks sentiment,digits --seeds 1 ...   # a subset
  python benchmarks/quality.py --tiny --json tiny.json                  # minutes: tiny models
  python benchmarks/quality.py --report W/suite.json                    # print an earlier run
  python benchmarks/quality.py --report-cache W                         # tables of what is cached
  ... --results-dir benchmarks/results/quality   # keep every run's result in the repository
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
from benchmarks.quality_picks import default_picks, paired_val, render_picks  # noqa: E402
from benchmarks.quality_runs import METHOD_OVERRIDES, equal_budget, result_path, run_one  # noqa: E402
from benchmarks.quality_tasks import METHODS, TaskConfig, base_lm_loss, prepare_data, suite  # noqa: E402
from neat.engine.defaults import method_defaults  # noqa: E402
from neat.engine.stats import paired_difference  # noqa: E402

TARGET_MARGIN_POINTS = 0.5


# -- aggregation -------------------------------------------------------------------------------
def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def aggregate(cfg: TaskConfig, runs: list[dict]) -> dict:
    """Every grid point (mean ± sd over the seeds done), the validation pick, the default point."""
    better = (lambda v: -v) if cfg.metric == "loss" else (lambda v: v)
    points = []
    for method in METHODS:
        for lr in cfg.grid[method]:
            chosen = [r for r in runs if r["method"] == method and r["lr"] == lr]
            if not chosen:
                continue
            val_mean, val_std = _mean_std([r["val"] for r in chosen])
            test_mean, test_std = _mean_std([r["test"] for r in chosen])
            points.append(
                {
                    "method": method,
                    "lr": lr,
                    "seeds": [r["seed"] for r in chosen],
                    "val": [r["val"] for r in chosen],
                    "test": [r["test"] for r in chosen],
                    "val_mean": val_mean,
                    "val_std": val_std,
                    "test_mean": test_mean,
                    "test_std": test_std,
                    "trainable_parameters": chosen[0]["trainable_parameters"],
                    "hyper": {
                        k: chosen[0].get(k)
                        for k in ("r", "scaling", "neat_init", "lora_alpha", "head_learning_rate")
                    },
                }
            )
    selected, defaults, spread = {}, {}, {}
    for method in METHODS:
        mine = [p for p in points if p["method"] == method]
        if not mine:
            continue
        # validation only, on the seeds every rate has run (ties: the lower rate, first in the grid)
        paired = paired_val(points, method)
        selected[method] = max(mine, key=lambda p: better(paired[p["lr"]]))
        default_lr = method_defaults(cfg.task, method)["training"]["learning_rate"]
        defaults[method] = next((p for p in mine if math.isclose(p["lr"], default_lr)), None)
        full_grid = len(mine) == len(cfg.grid[method])
        spread[method] = (
            (max(p["test_mean"] for p in mine) - min(p["test_mean"] for p in mine)) if full_grid else None
        )
    return {"points": points, "selected": selected, "defaults": defaults, "spread": spread}


def _points(cfg: TaskConfig, value: float) -> float:
    """Accuracy in points (x100); loss as is."""
    return value if cfg.metric == "loss" else 100 * value


def suite_verdict(cfgs: dict[str, TaskConfig], results: dict[str, dict]) -> dict:
    """The issue's four targets over the tasks whose needed points are done."""
    per_task = {}
    for key, res in results.items():
        cfg, agg = cfgs[key], res
        sign = -1 if cfg.metric == "loss" else 1  # NEAT - LoRA, positive = NEAT better
        entry = {"metric": cfg.metric, "grid_complete": all(v is not None for v in agg["spread"].values())}
        d = agg["defaults"]
        if d.get("neat") and d.get("lora"):
            entry["defaults_neat_minus_lora"] = sign * _points(
                cfg, d["neat"]["test_mean"] - d["lora"]["test_mean"]
            )
            # paired by seed: each seed draws both methods' validation split and data order
            neat_by_seed = dict(zip(d["neat"]["seeds"], d["neat"]["test"]))
            lora_by_seed = dict(zip(d["lora"]["seeds"], d["lora"]["test"]))
            seeds = sorted(set(neat_by_seed) & set(lora_by_seed))
            diff = paired_difference(
                [sign * _points(cfg, neat_by_seed[k]) for k in seeds],
                [sign * _points(cfg, lora_by_seed[k]) for k in seeds],
            )
            if diff["lo"] is not None:
                entry["defaults_interval"] = [diff["lo"], diff["hi"]]
        s = agg["selected"]
        if s.get("neat") and s.get("lora"):
            entry["best_neat_minus_lora"] = sign * _points(
                cfg, s["neat"]["test_mean"] - s["lora"]["test_mean"]
            )
            if s.get("full"):
                gap = sign * _points(cfg, s["full"]["test_mean"] - s["lora"]["test_mean"])
                entry["lora_gap_to_full"] = gap
                entry["gap_closed"] = entry["best_neat_minus_lora"] / gap if gap > 0 else None
        sp = agg["spread"]
        if sp.get("neat") is not None and sp.get("lora") is not None:
            entry["spread_neat"], entry["spread_lora"] = _points(cfg, sp["neat"]), _points(cfg, sp["lora"])
            entry["spread_ratio"] = sp["neat"] / sp["lora"] if sp["lora"] > 0 else None
        per_task[key] = entry

    def mean_of(name, tasks=None):
        values = [
            e[name]
            for k, e in per_task.items()
            if name in e and e[name] is not None and (tasks is None or k in tasks)
        ]
        return (statistics.fmean(values), len(values)) if values else (None, 0)

    acc_tasks = [k for k in per_task if cfgs[k].metric == "accuracy"]
    wins = sum(1 for e in per_task.values() if e.get("defaults_neat_minus_lora", -1) >= 0)
    counted = sum(1 for e in per_task.values() if "defaults_neat_minus_lora" in e)
    chat = per_task.get("chat", {})
    return {
        "per_task": per_task,
        "defaults_wins": [wins, counted],
        "defaults_mean_points_accuracy_tasks": mean_of("defaults_neat_minus_lora", acc_tasks),
        "best_mean_points_accuracy_tasks": mean_of("best_neat_minus_lora", acc_tasks),
        "gap_closed_mean": mean_of("gap_closed"),
        "spread_ratio_mean": mean_of("spread_ratio"),
        "chat_defaults_neat_minus_lora_loss": chat.get("defaults_neat_minus_lora"),
    }


# -- printing ----------------------------------------------------------------------------------
def _fmt(cfg: TaskConfig, mean: float, std: float | None) -> str:
    if cfg.metric == "loss":
        return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def render_task(cfg: TaskConfig, result: dict) -> str:
    data, budget = result["data"], result["budget"]
    unit = "loss (lower is better)" if cfg.metric == "loss" else "accuracy %"
    lines = [
        f"Task {cfg.key}: {cfg.title}",
        f"data: {data['raw_rows']:,} rows -> {data['deduplicated_rows']:,} after removing duplicates; "
        f"{data['test_rows']:,} held-out test rows (seed 1234), {data['pool_rows']:,} in the training pool "
        f"(10% of it the engine's validation split); {cfg.epochs:g} epoch(s), batch {cfg.batch_size}, "
        f"max_length {cfg.max_length}; NEAT r={budget['neat_r']} {budget['neat']:,} vs LoRA "
        f"r={budget['lora_r']} {budget['lora']:,} adapter parameters",
    ]
    rows = []
    for p in result["points"]:
        m = p["method"]
        marks = []
        if result["selected"].get(m) is p or (result["selected"].get(m) or {}).get("lr") == p["lr"]:
            # an optimum at the edge of the grid is not bracketed: widen the grid there
            edge = len(cfg.grid[m]) > 1 and p["lr"] in (min(cfg.grid[m]), max(cfg.grid[m]))
            marks.append("best val (grid edge)" if edge else "best val")
        if (result["defaults"].get(m) or {}).get("lr") == p["lr"]:
            marks.append("default")
        h = p["hyper"]
        hyper = {
            "neat": f"r={h['r']}, scaling={h['scaling']}, {h['neat_init']}",
            "lora": f"r={h['r']}, alpha={h['lora_alpha']}",
            "full": "all weights",
        }[m]
        if h.get("head_learning_rate") is not None and cfg.task != "causal-lm":
            hyper += f", head lr {h['head_learning_rate']:g}"
        rows.append(
            [
                m,
                f"{p['lr']:g}",
                hyper,
                len(p["seeds"]),
                _fmt(cfg, p["val_mean"], p["val_std"]),
                _fmt(cfg, p["test_mean"], p["test_std"]),
                ", ".join(marks),
            ]
        )
    if cfg.metric == "loss" and result.get("base_test_loss") is not None:
        rows.insert(0, ["base (untrained)", "-", "-", "-", "-", f"{result['base_test_loss']:.4f}", ""])
    lines.append(
        format_table(["method", "lr", "hyperparameters", "seeds", f"val {unit}", f"test {unit}", ""], rows)
    )
    spread = result["spread"]
    lines.append(
        "test spread over the lr grid (max - min of the means): "
        + ", ".join(
            f"{m} {_points(cfg, v):.2f}" if v is not None else f"{m} (grid incomplete)"
            for m, v in spread.items()
        )
    )
    return "\n".join(lines)


def render_verdict(verdict: dict) -> str:
    lines = ["Suite targets (NEAT - LoRA: positive = NEAT better; accuracy in points, chat in loss):"]
    rows = []
    for key, e in verdict["per_task"].items():

        def f(name, digits=2, e=e):
            v = e.get(name)
            return "-" if v is None else f"{v:+.{digits}f}"

        spread = "-" if "spread_neat" not in e else f"{e['spread_neat']:.2f} / {e['spread_lora']:.2f}"
        gap = "-" if e.get("gap_closed") is None else f"{e['gap_closed']:.2f}"
        digits = 4 if e["metric"] == "loss" else 2
        best = f("best_neat_minus_lora", digits) + ("" if e.get("grid_complete") else " (grid so far)")
        interval = e.get("defaults_interval")
        rows.append(
            [
                key,
                f("defaults_neat_minus_lora", digits),
                "-" if interval is None else f"[{interval[0]:+.{digits}f}, {interval[1]:+.{digits}f}]",
                best,
                f("lora_gap_to_full", digits),
                gap,
                spread,
            ]
        )
    lines.append(
        format_table(
            [
                "task",
                "at defaults",
                "95% interval (paired over seeds)",
                "best of grid",
                "LoRA gap to full",
                "gap closed",
                "spread NEAT / LoRA",
            ],
            rows,
        )
    )
    w, n = verdict["defaults_wins"]
    dm, dn = verdict["defaults_mean_points_accuracy_tasks"]
    bm, bn = verdict["best_mean_points_accuracy_tasks"]
    gm, gn = verdict["gap_closed_mean"]
    lines.append(f"NEAT >= LoRA at the defaults on {w} of {n} tasks (target: >= 4 of 5)")
    if dm is not None:
        lines.append(
            f"mean NEAT - LoRA at the defaults over {dn} accuracy task(s): {dm:+.2f} points (target >= +0.5)"
        )
    if bm is not None:
        lines.append(
            f"mean NEAT - LoRA best-of-grid over {bn} accuracy task(s): {bm:+.2f} points (target >= 0)"
        )
    if gm is not None:
        lines.append(
            f"mean fraction of LoRA's gap to full closed over {gn} task(s): {gm:.2f} (target >= 0.5)"
        )
    sm, sn = verdict["spread_ratio_mean"]
    if sm is not None:
        lines.append(
            f"mean NEAT / LoRA test spread over the lr grid over {sn} task(s): {sm:.2f} (target <= 0.5)"
        )
    c = verdict["chat_defaults_neat_minus_lora_loss"]
    if c is not None:
        lines.append(f"chat: LoRA - NEAT test loss at the defaults {c:+.4f} (target >= 0)")
    return "\n".join(lines)


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
    return {"bert": str(bert), "llama": str(llama)}


def task_configs(args) -> dict[str, TaskConfig]:
    cfgs = suite(quick=args.quick)
    if args.tasks:
        unknown = set(args.tasks) - set(cfgs)
        if unknown:
            raise SystemExit(f"unknown task(s) {sorted(unknown)}; choose from {', '.join(cfgs)}")
        cfgs = {k: cfgs[k] for k in args.tasks}
    if args.tiny:
        models = build_tiny_models(Path(args.work_dir) / "tiny-models")
        for cfg in cfgs.values():
            if cfg.task == "classification":
                cfg.model, cfg.targets = models["bert"], ["query", "value"]
            elif cfg.task == "causal-lm":
                cfg.model = models["llama"]
            cfg.test_size, cfg.max_train_rows, cfg.epochs, cfg.max_length = 24, 60, 1.0, 32
            cfg.validation_fraction = 0.2
            cfg.grid = {m: lrs[:2] if m != "full" else lrs[:1] * 2 for m, lrs in cfg.grid.items()}
            cfg.grid["full"] = sorted(set(cfg.grid["full"]))
    return cfgs


def plan(cfgs: dict[str, TaskConfig], seeds: list[int]) -> list[tuple[str, str, float, int]]:
    """Every task's default points over every seed first, so a partial run already answers
    "what does a user get out of the box" with its seed spread; then the rest, seed-major."""
    first, rest = [], []
    for seed in seeds:
        for key, cfg in cfgs.items():
            for method in METHODS:
                default_lr = method_defaults(cfg.task, method)["training"]["learning_rate"]
                for lr in cfg.grid[method]:
                    (first if math.isclose(lr, default_lr) else rest).append((key, method, lr, seed))
    return first + rest


def run_suite(
    cfgs: dict[str, TaskConfig],
    seeds: list[int],
    work_dir: Path,
    only_cached: bool = False,
    results_root: Path | None = None,
) -> dict:
    tasks = {}
    for key, cfg in cfgs.items():
        task_dir = work_dir / key
        results_dir = results_root / key if results_root else task_dir / "results"
        data = prepare_data(cfg, task_dir, tiny="tiny-models" in cfg.model)
        budget = equal_budget(cfg)
        task_key = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "grid"}
        tasks[key] = {
            "cfg": cfg,
            "data": data,
            "budget": budget,
            "dir": task_dir,
            "results": results_dir,
            "key": task_key,
            "runs": [],
        }
        dropped = data.get("classes_dropped")
        rare = f"; classes dropped, too rare: {', '.join(dropped)}" if dropped else ""
        print(
            f"task {key}: {data['pool_rows']} pool rows, {data['test_rows']} test rows "
            f"({data['raw_rows'] - data['deduplicated_rows']} duplicate rows removed{rare}); "
            f"NEAT r={budget['neat_r']} "
            f"{budget['neat']:,} vs LoRA r={budget['lora_r']} {budget['lora']:,} parameters",
            flush=True,
        )
    order = plan(cfgs, seeds)
    for i, (key, method, lr, seed) in enumerate(order, start=1):
        t = tasks[key]
        if only_cached and not result_path(t["results"], method, lr, seed).is_file():
            continue
        record = run_one(
            t["cfg"], t["data"], t["budget"], method, lr, seed, t["dir"], t["results"], t["key"], only_cached
        )
        if record is None:  # --report-cache: a result for older settings is not reported
            continue
        t["runs"].append(record)
        note = "cached" if record.get("cached") else f"{record['train_seconds']:.0f} s"
        if not only_cached:
            print(
                f"  [{i}/{len(order)}] {key} {method} lr={lr:g} seed={seed}: val {record['val']:.4f}, "
                f"test {record['test']:.4f} ({note})",
                flush=True,
            )
    out = {}
    for key, t in tasks.items():
        cfg = t["cfg"]
        result = {
            "config": dataclasses.asdict(cfg),
            "data": {k: v for k, v in t["data"].items() if k != "test"},
        }
        result.update(budget=t["budget"], runs=t["runs"], **aggregate(cfg, t["runs"]))
        expected = sum(len(v) for v in cfg.grid.values()) * len(seeds)
        result["complete"] = len(t["runs"]) == expected
        result["runs_done"], result["runs_expected"] = len(t["runs"]), expected
        if cfg.metric == "loss" and t["runs"]:
            result["base_test_loss"] = base_lm_loss(cfg, t["data"]["test"])
        out[key] = result
    return out


def render(cfgs: dict[str, TaskConfig], results: dict, verdict: dict) -> str:
    parts = []
    for key, res in results.items():
        status = (
            "complete" if res["complete"] else f"PARTIAL: {res['runs_done']} of {res['runs_expected']} runs"
        )
        parts.append(f"[{status}]\n" + render_task(cfgs[key], res))
    parts.append(render_verdict(verdict))
    parts.append(render_picks(default_picks(cfgs, results)))
    return "\n\n".join(parts)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python benchmarks/quality.py", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=lambda s: [t for t in s.split(",") if t], help="comma-separated subset")
    p.add_argument("--quick", action="store_true", help="1 seed, fewer rows, 3 learning rates per adapter")
    p.add_argument("--seeds", type=int, help="seeds per grid point (default 3; quick 1; tiny 2)")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 is best on a shared machine)")
    p.add_argument("--work-dir", help="data splits and cached results (default: a temporary folder)")
    p.add_argument(
        "--results-dir",
        help="keep each run's result here (one JSON per task/method/lr/seed; default: under "
        "--work-dir), e.g. a folder in the repository so that the record of every run is kept",
    )
    p.add_argument("--json", help="write all results here")
    p.add_argument("--tiny", action="store_true", help="tiny random models and a few rows: a smoke run")
    p.add_argument("--report", metavar="JSON", help="print the tables of an earlier --json file")
    p.add_argument("--report-cache", action="store_true", help="report the cached runs only; train nothing")
    p.add_argument(
        "--neat-a-lr-scale",
        type=float,
        help="a variant: NEAT's A at this times the learning rate (method.neat_a_lr_scale); "
        "use its own --results-dir",
    )
    args = p.parse_args(argv)
    if args.seeds is None:
        args.seeds = 2 if args.tiny else 1 if args.quick else 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text(encoding="utf-8"))
        print(f"{saved['meta']['command']}  ({saved['meta']['date']}, {saved['meta']['machine']})\n")
        print(saved["text"])
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.neat_a_lr_scale is not None:
        METHOD_OVERRIDES["neat"] = {"neat_a_lr_scale": args.neat_a_lr_scale}
    warnings.filterwarnings("ignore")
    import datasets
    import peft
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    temporary = args.work_dir is None
    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="neat-quality-")
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    try:
        cfgs = task_configs(args)
        results = run_suite(
            cfgs,
            list(range(args.seeds)),
            work_dir,
            only_cached=args.report_cache,
            results_root=Path(args.results_dir) if args.results_dir else None,
        )
    finally:
        if temporary:
            shutil.rmtree(work_dir, ignore_errors=True)
    verdict = suite_verdict(cfgs, results)
    text = render(cfgs, results, verdict)
    print("\n" + text, flush=True)
    if args.json:
        meta = {
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
            "total_seconds": round(time.time() - started, 1),
            "std": "sample standard deviation over seeds (n-1)",
        }
        payload = {"meta": meta, "tasks": results, "verdict": verdict, "text": text}
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
