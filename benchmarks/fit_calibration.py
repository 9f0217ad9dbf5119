"""Fit check calibration: neat.engine.fit's memory and time estimates against measured runs.

Each configuration trains a few real steps through the engine in a FRESH process (so the
process's peak RSS, or the card's peak allocation on a GPU, belongs to that run alone) and is
compared with `neat.engine.fit.estimate` for the same spec. Target: every memory estimate within
±25% of the measured peak.

Run from the repository root (HF_HUB_OFFLINE=1 without network):
  python benchmarks/fit_calibration.py --json fit.json
  python benchmarks/fit_calibration.py --only minilm-neat-bf16   # one configuration
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import format_table  # noqa: E402
from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec  # noqa: E402

TARGET = 0.25


def _spec(name, model, task, source, columns, method, precision, batch, length, rows) -> RunSpec:
    return RunSpec(
        name=name,
        task=task,
        model=ModelSpec(model),
        dataset=DataSpec(source, columns, max_rows=rows),
        method=MethodSpec(method, r=8),
        training=TrainingSpec(
            max_steps=6,
            batch_size=batch,
            max_length=length,
            eval_steps=1000,
            logging_steps=1,
            precision=precision,
        ),
    )


def configurations() -> dict[str, RunSpec]:
    text = ("embedded:minilm", "classification", "rotten_tomatoes", ColumnMap(text="text", label="label"))
    chat = ("embedded:smollm2", "causal-lm", "chatterbot", ColumnMap(prompt="prompt", response="response"))
    return {
        "minilm-neat-bf16-b16-l64": _spec("a", *text, "neat", "bf16", 16, 64, 400),
        "minilm-neat-fp32-b32-l128": _spec("b", *text, "neat", "fp32", 32, 128, 400),
        "minilm-full-fp32-b16-l128": _spec("c", *text, "full", "fp32", 16, 128, 400),
        "minilm-lora-bf16-b64-l128": _spec("d", *text, "lora", "bf16", 64, 128, 800),
        "smollm2-neat-bf16-b4-l128": _spec("e", *chat, "neat", "bf16", 4, 128, 120),
    }


CHILD = """
import json, sys, statistics, warnings
warnings.filterwarnings("ignore")
from neat.engine.spec import RunSpec
from neat.engine.train import run
spec = RunSpec.from_yaml(open(sys.argv[1]).read())
summary = run(spec, sys.argv[2])
times = [json.loads(l)["time"] for l in open(sys.argv[2] + "/metrics.jsonl") if '"train"' in l]
steps = [b - a for a, b in zip(times, times[1:])][1:]  # the first steps warm the kernels up
print("RESULT " + json.dumps({"peak": summary["peak_memory_bytes"], "step_s": statistics.median(steps)}))
"""


def measure(spec: RunSpec, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    (work / "spec.yaml").write_text(spec.to_yaml())
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(work / "spec.yaml"), str(work / "run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{spec.name} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main(argv: list[str] | None = None) -> dict:
    import torch

    from neat.engine.data_check import check_dataset
    from neat.engine.fit import GIB, estimate
    from neat.engine.loading import load_processor

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--work-dir", type=Path, default=None)
    args = p.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="fit-calibration-"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows, records = [], {}
    for name, spec in configurations().items():
        if args.only and name not in args.only:
            continue
        cached = work / f"{name}.json"
        if cached.is_file():
            measured = json.loads(cached.read_text())
        else:
            measured = measure(spec, work / name)
            cached.write_text(json.dumps(measured))
        report = check_dataset(spec, tokenizer=load_processor(spec))  # as `neat.train --check` does
        est = estimate(spec, device=device, token_lengths=report.token_lengths)
        peak = measured["peak"]["cuda_allocated"] if device == "cuda" else measured["peak"]["host_rss"]
        predicted = est.gpu_bytes if device == "cuda" else est.ram_bytes
        minutes_per_step = est.minutes / spec.training.max_steps
        records[name] = {
            "measured_peak_bytes": peak,
            "estimated_bytes": predicted,
            "ratio": predicted / peak,
            "measured_step_s": measured["step_s"],
            "estimated_step_s": 60 * minutes_per_step,
            "precision": est.precision,
        }
        r = records[name]
        rows.append(
            [
                name,
                f"{peak / GIB:.2f}",
                f"{predicted / GIB:.2f}",
                f"{r['ratio']:.2f}",
                f"{r['measured_step_s']:.2f}",
                f"{r['estimated_step_s']:.2f}",
            ]
        )
        print(json.dumps({name: r}), flush=True)
    worst = max(abs(r["ratio"] - 1) for r in records.values())
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{os.cpu_count()}-core {platform.machine()}, {device}, torch {torch.__version__}",
    }
    headers = ["configuration", "measured GiB", "estimated GiB", "est/measured", "step s", "est step s"]
    print(f"# fit calibration - {meta['machine']} - {meta['date']}\n")
    print(format_table(headers, rows))
    print(
        f"\nworst memory error {100 * worst:.0f}% (target within {100 * TARGET:.0f}%): "
        f"{'met' if worst <= TARGET else 'MISSED'}"
    )
    median_time = statistics.median(r["estimated_step_s"] / r["measured_step_s"] for r in records.values())
    print(f"time: estimated/measured step, median {median_time:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "runs": records}, indent=1))
    return records


if __name__ == "__main__":
    main()
