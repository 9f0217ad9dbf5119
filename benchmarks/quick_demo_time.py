"""How long the Train tab's "Quick CPU demo" takes, as a person pressing Start gets it.

The spec is neat/engine/defaults.py's QUICK_DEMO (the preset reads the same), trained on the
built-in Rotten Tomatoes data with the current defaults (`precision: auto`, bf16 on a CPU with
native bf16) and torch's default thread count, as a worker process runs it. Each run is timed
whole (wall and process CPU time) and in phases from the engine's own events: start-up (model
load, data check, tokenisation) until the first training-loss log, training until the last
one, and the final evaluation and save after it. The load average at the start is recorded
too: on a shared machine wall time mostly measures the wait for a core.

Run from the repository root (HF_HUB_OFFLINE=1 without network); results are cached per run
under --work-dir, so a rerun continues:
  python benchmarks/quick_demo_time.py --repeats 3 --json quick-demo.json
  python benchmarks/quick_demo_time.py --repeats 1 --max-steps 4   # smoke run
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

_IMPORT_START = time.perf_counter()
import torch  # noqa: E402

from benchmarks.common import format_table  # noqa: E402
from neat.engine import defaults  # noqa: E402
from neat.engine import precision as precisions  # noqa: E402
from neat.engine.spec import quick_demo_spec  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _IMPORT_START


class PhaseClock:
    """A listener noting wall time at every training-loss log."""

    def __init__(self):
        self.train_logs: list[float] = []

    def on_event(self, event: dict) -> None:
        if event.get("kind") == "log" and event.get("split") == "train":
            self.train_logs.append(time.perf_counter())

    def should_stop(self) -> bool:
        return False


def run_one(index: int, args) -> dict:
    from neat.engine.train import run

    key = {"index": index, "max_steps": args.max_steps, "threads": torch.get_num_threads()}
    cached = args.work_dir / "results" / f"run-{index}.json"
    if cached.is_file() and json.loads(cached.read_text()).get("key") == key:
        return json.loads(cached.read_text())
    run_dir = args.work_dir / "runs" / f"run-{index}"
    shutil.rmtree(run_dir, ignore_errors=True)
    spec = quick_demo_spec(f"quick-demo-{index}", **{"training.max_steps": args.max_steps})
    clock = PhaseClock()
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    summary = run(spec, run_dir, [clock])
    end, cpu = time.perf_counter(), time.process_time() - cpu
    first, last = (clock.train_logs[0], clock.train_logs[-1]) if clock.train_logs else (end, end)
    record = {
        "key": key,
        "precision_ran": summary["precision"],
        "load_average": round(load, 1),
        "wall_seconds": round(end - start, 1),
        "process_seconds": round(cpu, 1),
        "startup_seconds": round(first - start, 1),
        "train_seconds": round(last - first, 1),
        "final_seconds": round(end - last, 1),
        "val_accuracy": summary["eval"].get("eval_accuracy"),
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(record, indent=2))
    shutil.rmtree(run_dir, ignore_errors=True)
    print(json.dumps(record), flush=True)
    return record


def report(records: list[dict]) -> str:
    headers = ["run", "ran", "load avg", "wall s", "CPU s", "start-up s", "train s", "final s", "val acc"]
    rows = [
        [
            i,
            r["precision_ran"],
            r["load_average"],
            r["wall_seconds"],
            r["process_seconds"],
            r["startup_seconds"],
            r["train_seconds"],
            r["final_seconds"],
            f"{r['val_accuracy']:.4f}" if r["val_accuracy"] is not None else "-",
        ]
        for i, r in enumerate(records)
    ]
    walls = [r["wall_seconds"] for r in records]
    cpus = [r["process_seconds"] for r in records]
    return (
        format_table(headers, rows)
        + f"\n\nwall: median {statistics.median(walls):.0f} s (min {min(walls):.0f}, max {max(walls):.0f}); "
        f"process CPU time: median {statistics.median(cpus):.0f} s; imports before the run: "
        f"{IMPORT_SECONDS:.1f} s"
    )


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=defaults.QUICK_DEMO["training"]["max_steps"])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--work-dir", type=Path, default=Path("runs/benchmarks/quick-demo-time"))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    records = [run_one(i, args) for i in range(args.repeats)]
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, torch {torch.__version__}, "
        f"native bf16: {precisions.cpu_has_native_bf16()}, {torch.get_num_threads()} torch thread(s)",
    }
    print(f"# Quick CPU demo time - {meta['machine']} - {meta['date']}\n\n{report(records)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "runs": records}, indent=1))
    return records


if __name__ == "__main__":
    main()
