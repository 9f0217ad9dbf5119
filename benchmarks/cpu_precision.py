"""CPU precision: the Train tab's quick CPU demo in fp32 vs `precision: auto`, through the engine.

On a CPU with native bf16 (AVX512-BF16 or AMX) `auto` runs bf16 autocast with a bf16 frozen
base; elsewhere it is fp32 and this benchmark shows a ratio of about 1. For each seed, the two
runs go back to back (fp32 first on even seeds, auto first on odd ones, so drift hits both);
each run is timed whole (wall and process CPU time) and per optimizer step, then scored on a
fixed held-out test split of 2,000 reviews that no run trains or selects on, in the precision
the run trained in.

Step time: the process CPU time between consecutive training-loss logs (every 5 steps) with no
evaluation in between, divided by the steps; with ONE torch thread (the default here) this
counts the work a step does, not the wait for a core on a shared machine.

Run from the repository root (HF_HUB_OFFLINE=1 without network); results are cached per run
under --work-dir, so a rerun continues:
  python benchmarks/cpu_precision.py --json precision.json --work-dir /tmp/cpu-precision
  python benchmarks/cpu_precision.py --seeds 0 --max-steps 4 --test-size 64   # smoke run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
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
from benchmarks.quality_tasks import TEST_SEED, _sample, dedupe, text_accuracy  # noqa: E402
from neat.engine import precision as precisions  # noqa: E402
from neat.engine import spec as specs  # noqa: E402
from neat.engine.spec import RunSpec  # noqa: E402

PRECISIONS = ("fp32", "auto")
TARGET_SPEEDUP = 1.7  # fp32 / auto, wall time of the quick demo and step time
TARGET_ACCURACY_POINTS = 0.5  # |mean test accuracy auto - fp32| over the seeds


def quick_demo_spec(pool: Path, precision: str, seed: int, max_steps: int) -> RunSpec:
    """The app's "Quick CPU demo" (neat/engine/defaults.py, QUICK_DEMO), trained on the pool file."""
    return specs.quick_demo_spec(
        f"quick-demo-{precision}-s{seed}",
        **{
            "dataset.source": str(pool),
            "dataset.test_fraction": 0.0,  # this benchmark scores its own held-out test rows
            "training.precision": precision,
            "training.seed": seed,
            "training.max_steps": max_steps,
        },
    )


def prepare_data(work: Path, test_size: int) -> tuple[Path, list[dict]]:
    from neat.engine.assets import builtin_dataset

    ds = builtin_dataset("rotten_tomatoes")
    rows = dedupe(  # first copy of each text kept (label None: no conflict check, as recorded)
        [{"text": t, "label": label} for t, label in zip(ds["text"][:], ds["label"][:])], ("text",), None
    )
    pool, test = _sample(rows, "label", test_size, TEST_SEED)
    path = work / "pool.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for row in pool:
            handle.write(json.dumps(row) + "\n")
    return path, test


class StepClock:
    """A listener noting the process CPU time at every training-loss log and every evaluation."""

    def __init__(self):
        self.marks: list[tuple[str, int, float]] = []

    def on_event(self, event: dict) -> None:
        if event.get("kind") == "log":
            self.marks.append((event["split"], event["step"], time.process_time()))

    def should_stop(self) -> bool:
        return False

    def step_seconds(self) -> float:
        per_step = []
        for (split_a, step_a, t_a), (split_b, step_b, t_b) in zip(self.marks, self.marks[1:]):
            if split_a == split_b == "train" and step_b > step_a:
                per_step.append((t_b - t_a) / (step_b - step_a))
        return statistics.median(per_step)


def run_one(pool: Path, test: list[dict], precision: str, seed: int, args, work: Path) -> dict:
    from neat.engine.inference import load_run_model, load_run_processor
    from neat.engine.loading import HEAD_NAMES
    from neat.engine.rundir import RunDir
    from neat.engine.train import run

    key = {"precision": precision, "seed": seed, "max_steps": args.max_steps, "test": len(test)}
    cached = work / "results" / f"{precision}-s{seed}.json"
    if cached.is_file() and json.loads(cached.read_text()).get("key") == key:
        return json.loads(cached.read_text())
    run_dir = work / "runs" / f"{precision}-s{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    clock = StepClock()
    wall, cpu = time.perf_counter(), time.process_time()
    summary = run(quick_demo_spec(pool, precision, seed, args.max_steps), run_dir, [clock])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    spec = RunDir(run_dir).read_spec()
    ran = summary["precision"]
    model = load_run_model(run_dir, spec, ran)
    precisions.heads_in_fp32(model, HEAD_NAMES)
    labels, _ = RunDir(run_dir).read_labels(spec.task)
    with precisions.autocast(ran, "cpu"):
        accuracy = text_accuracy(
            model, load_run_processor(run_dir, spec), labels, test, spec.training.max_length
        )
    record = {
        "key": key,
        "precision_asked": precision,
        "precision_ran": ran,
        "seed": seed,
        "wall_seconds": round(wall, 2),
        "process_seconds": round(cpu, 2),
        "step_ms": round(1e3 * clock.step_seconds(), 1),
        "val_accuracy": summary["eval"]["eval_accuracy"],
        "test_accuracy": accuracy,
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(record, indent=2))
    shutil.rmtree(run_dir, ignore_errors=True)
    print(json.dumps(record), flush=True)
    return record


def aggregate(records: list[dict]) -> dict:
    by = {p: [r for r in records if r["precision_asked"] == p] for p in PRECISIONS}
    pairs = list(zip(by["fp32"], by["auto"], strict=True))

    def ratio(field: str) -> float:
        return statistics.median(a[field] / b[field] for a, b in pairs)

    mean_acc = {p: statistics.fmean(r["test_accuracy"] for r in rows) for p, rows in by.items()}
    result = {
        "wall_speedup": ratio("wall_seconds"),
        "process_speedup": ratio("process_seconds"),
        "step_speedup": ratio("step_ms"),
        "test_accuracy_mean": mean_acc,
        "accuracy_delta_points": 100 * (mean_acc["auto"] - mean_acc["fp32"]),
    }
    result["targets"] = {
        "step_speedup >= 1.7": result["step_speedup"] >= TARGET_SPEEDUP,
        "wall_speedup >= 1.7": result["wall_speedup"] >= TARGET_SPEEDUP,
        "|accuracy delta| <= 0.5 points": abs(result["accuracy_delta_points"]) <= TARGET_ACCURACY_POINTS,
    }
    return result


def report(records: list[dict], result: dict) -> str:
    headers = [
        "precision",
        "ran",
        "seed",
        "wall s",
        "CPU s",
        "step ms",
        "val acc",
        "test acc",
    ]
    rows = [
        [
            r["precision_asked"],
            r["precision_ran"],
            r["seed"],
            r["wall_seconds"],
            r["process_seconds"],
            r["step_ms"],
            f"{r['val_accuracy']:.4f}",
            f"{r['test_accuracy']:.4f}",
        ]
        for r in sorted(records, key=lambda r: (r["precision_asked"] != "fp32", r["seed"]))
    ]
    lines = [format_table(headers, rows), ""]
    lines.append(
        f"fp32/auto (median over seeds): wall {result['wall_speedup']:.2f}x, CPU time "
        f"{result['process_speedup']:.2f}x, step {result['step_speedup']:.2f}x; mean test accuracy "
        f"fp32 {100 * result['test_accuracy_mean']['fp32']:.2f}%, auto "
        f"{100 * result['test_accuracy_mean']['auto']:.2f}% ({result['accuracy_delta_points']:+.2f} points)"
    )
    lines.append(
        "targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in result["targets"].items())
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-steps", type=int, default=60, help="the preset's 60 steps")
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared CPU)")
    p.add_argument("--work-dir", type=Path, default=Path("runs/benchmarks/cpu-precision"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(args.threads)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    pool, test = prepare_data(args.work_dir, args.test_size)
    records = []
    for seed in args.seeds:
        order = PRECISIONS if seed % 2 == 0 else PRECISIONS[::-1]
        records += [run_one(pool, test, precision, seed, args, args.work_dir) for precision in order]
    result = aggregate(records)
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, torch {torch.__version__}, "
        f"native bf16: {precisions.cpu_has_native_bf16()}, {args.threads} torch thread(s)",
    }
    print(f"# CPU precision - {meta['machine']} - {meta['date']}\n\n{report(records, result)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "runs": records, "result": result}, indent=1))
    return result


if __name__ == "__main__":
    main()
