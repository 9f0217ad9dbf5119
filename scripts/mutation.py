"""Mutation testing of the core: does the test suite notice when the code is subtly wrong?

    python scripts/mutation.py                  # every mutant (about an hour on 2 CPU cores)
    python scripts/mutation.py --only layer     # the mutants whose id contains "layer"
    python scripts/mutation.py --list           # show the mutants, run nothing

Each mutant is one deliberate one-line mistake (a flipped comparison, a dropped term, a wrong
dtype...) in a module the rest of the project relies on. For each, the working tree is copied
to a temporary folder, the mistake applied there, and only the test files that cover that
module are run (`pytest -x`): the mutant is *killed* if a test fails, *survives* if all pass.
The repository itself is never modified. First each test selection runs once unmutated, so a
kill always means "this mistake is caught", never "the tests were already failing".

A mutant whose original line is no longer in the file is reported as *stale*: update the list
below when the code it names changes. Results are recorded in docs/MUTATION.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 900  # a mutant that hangs the tests counts as killed (reported as "timeout")


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]


# Test selections, one per module under test.
# The NEAT layer's fast checks (its full file checks every activation and depth on three models).
LAYER = (
    "tests/neat/test_adapters.py",
    "-k",
    "precision or (equal_stock_peanut and gelu) or zero_initialised or merge or conv1d or gpt2_model "
    "or disable_adapter or dense_update or optimizer_steps",
)
BEST = ("tests/neat/test_best_checkpoint.py",)
RESUME = ("tests/neat/test_train.py::test_stop_then_resume_continues_the_same_curve",)
RUNDIR_RESUME = ("tests/neat/test_rundir.py", *RESUME)
OUTPUTS = ("tests/neat/test_train.py::test_classification_run_writes_every_output_and_learns",)
JOB_ROW = ("tests/jobs/test_job_row_from_a_real_run.py",)
METRICS = ("tests/neat/test_metrics.py", *BEST)
STORE = ("tests/jobs/test_store.py", "tests/jobs/test_api.py")
CHECKPOINTS = (
    "tests/neat/test_rundir.py",
    "tests/jobs/test_recovery.py",
    "tests/jobs/test_api.py",
    "tests/jobs/test_store.py",
)
DATA = ("tests/neat/test_data.py",)
PREDICT = ("tests/neat/test_inference.py", "-k", "not chat")
CHAT = ("tests/neat/test_inference.py", "-k", "chat")

M = Mutant
MUTANTS: list[Mutant] = [
    # ---- neat/layer.py: the NEAT math ---------------------------------------------------------
    M(
        "layer-h-dtype",
        "neat/layer.py",
        "h_t = act((a.to(w0.dtype) @ w0).to(a.dtype))",
        "h_t = act(a.to(w0.dtype) @ w0)",
        LAYER,
    ),
    M(
        "layer-token-dtype",
        "neat/layer.py",
        "dtype = x.dtype if x.is_floating_point() else h_t.dtype",
        "dtype = h_t.dtype",
        LAYER,
    ),
    M(
        "layer-w0-upcast",
        "neat/layer.py",
        "h_t = act((a.to(w0.dtype) @ w0).to(a.dtype))",
        "h_t = act(a @ w0.to(a.dtype))",
        LAYER,
    ),
    M(
        "layer-no-residual",
        "neat/layer.py",
        "h_t = act(decoder.weight @ h_t) + residual",
        "h_t = act(decoder.weight @ h_t)",
        LAYER,
    ),
    M(
        "layer-residual-order",
        "neat/layer.py",
        "zip(self.peanut_decoders[adapter], reversed(residuals))",
        "zip(self.peanut_decoders[adapter], residuals)",
        LAYER,
    ),
    M(
        "layer-encoder-no-act",
        "neat/layer.py",
        "h_t = act(encoder.weight @ h_t)",
        "h_t = encoder.weight @ h_t",
        LAYER,
    ),
    M(
        "layer-forward-no-scaling",
        "neat/layer.py",
        "h_t = self._hidden_t(adapter, w0) * self.scaling[adapter]",
        "h_t = self._hidden_t(adapter, w0)",
        LAYER,
    ),
    M(
        "layer-forward-minus",
        "neat/layer.py",
        "result = result + delta.to(result.dtype)",
        "result = result - delta.to(result.dtype)",
        LAYER,
    ),
    M(
        "layer-conv1d-layout",
        "neat/layer.py",
        "return weight.t() if self.fan_in_fan_out else weight",
        "return weight",
        LAYER,
    ),
    M(
        "layer-merge-no-scaling",
        "neat/layer.py",
        "delta = (self.peanut_B[adapter].weight @ h_t) * self.scaling[adapter]",
        "delta = self.peanut_B[adapter].weight @ h_t",
        LAYER,
    ),
    M(
        "layer-merge-layout",
        "neat/layer.py",
        "return delta.t() if self.fan_in_fan_out else delta",
        "return delta",
        LAYER,
    ),
    M(
        "layer-ignores-disable",
        "neat/layer.py",
        "if self.disable_adapters or self.merged or not self.active_adapters:",
        "if self.merged or not self.active_adapters:",
        LAYER,
    ),
    M(
        "layer-no-conv1d",
        "neat/layer.py",
        "self.fan_in_fan_out = isinstance(base, Conv1D)",
        "self.fan_in_fan_out = False",
        LAYER,
    ),
    # ---- neat/engine/train.py, metrics.py, rundir.py, progress.py: best checkpoint, run folder
    M(
        "train-keep-last-model",
        "neat/engine/train.py",
        "load_best_model_at_end=True,",
        "load_best_model_at_end=False,",
        BEST,
    ),
    M(
        "train-invert-direction",
        "neat/engine/train.py",
        "greater_is_better=metrics.greater_is_better(metric),",
        "greater_is_better=not metrics.greater_is_better(metric),",
        BEST,
    ),
    M(
        "metrics-mse-higher-is-better",
        "neat/engine/metrics.py",
        '_LOWER_IS_BETTER = ("loss", "perplexity", "error", "mse", "mae")',
        '_LOWER_IS_BETTER = ("loss", "perplexity", "error", "mae")',
        BEST,
    ),
    M(
        "metrics-old-loss-only-rule",
        "neat/engine/metrics.py",
        "return any(word in name.lower() for word in _LOWER_IS_BETTER)",
        'return "loss" in name',
        BEST,
    ),
    M(
        "rundir-resume-partial-checkpoint",
        "neat/engine/rundir.py",
        "complete = [path for _, path in self._checkpoint_dirs() if (path / COMPLETE_MARKER).is_file()]",
        "complete = [path for _, path in self._checkpoint_dirs()]",
        RUNDIR_RESUME,
    ),
    M(
        "rundir-resume-oldest-checkpoint",
        "neat/engine/rundir.py",
        "return complete[-1] if complete else None",
        "return complete[0] if complete else None",
        RUNDIR_RESUME,
    ),
    M(
        "train-summary-best-checkpoint",
        "neat/engine/train.py",
        '"best_checkpoint": trainer.state.best_model_checkpoint,',
        '"best_checkpoint": trainer.state.best_model_checkpoint and None,',
        BEST,
    ),
    M(
        "progress-eta-total-steps",  # the ETA's step arithmetic moved to neat/engine/eta.py
        "neat/engine/eta.py",
        "steps_left = max(0, max_steps - step)",
        "steps_left = max(0, max_steps)",
        ("tests/neat/test_eta.py", *JOB_ROW),
    ),
    M(
        "progress-off-by-one",
        "neat/engine/progress.py",
        "progress = min(1.0, state.global_step / state.max_steps)",
        "progress = min(1.0, (state.global_step - 1) / state.max_steps)",
        JOB_ROW,
    ),
    M(
        "metricsfile-drops-checkpoint-step",
        "neat/engine/rundir.py",
        "kept = [line for line, r in self._lines() if step is not None and _step(r) <= step]",
        "kept = [line for line, r in self._lines() if step is not None and _step(r) < step]",
        RUNDIR_RESUME,
    ),
    M(
        "metricsfile-keeps-everything",
        "neat/engine/rundir.py",
        "kept = [line for line, r in self._lines() if step is not None and _step(r) <= step]",
        "kept = [line for line, r in self._lines() if step is None or _step(r) <= step]",
        (*OUTPUTS, "tests/neat/test_rundir.py"),
    ),
    # ---- neat/engine/tasks.py and metrics.py: the metrics runs are ranked by -------------
    M(
        "metrics-accuracy",
        "neat/engine/tasks.py",
        '"accuracy": float((preds == labels).mean()),',
        '"accuracy": float((preds != labels).mean()),',
        METRICS,
    ),
    M("metrics-micro-f1", "neat/engine/tasks.py", 'average="macro"', 'average="micro"', METRICS),
    M(
        "metrics-mse-is-mae",
        "neat/engine/tasks.py",
        '"mse": float(((preds - labels) ** 2).mean()),',
        '"mse": float(np.abs(preds - labels).mean()),',
        METRICS,
    ),
    M(
        "metrics-pearson-lower",
        "neat/engine/metrics.py",
        '_LOWER_IS_BETTER = ("loss", "perplexity", "error", "mse", "mae")',
        '_LOWER_IS_BETTER = ("loss", "perplexity", "error", "mse", "mae", "pearson")',
        ("tests/neat/test_train.py::test_float_labels_mean_regression", *METRICS),
    ),
    M(
        "metrics-argmin",
        "neat/engine/tasks.py",
        "preds = np.asarray(logits).argmax(-1)",
        "preds = np.asarray(logits).argmin(-1)",
        METRICS,
    ),
    # ---- jobs/store.py: the atomic claim and the state changes --------------------------------
    M(
        "store-claim-any-status",
        "jobs/store.py",
        'update(Job)\n        .where(Job.id == job_id, Job.status == "queued")',
        "update(Job)\n        .where(Job.id == job_id)",
        STORE,
    ),
    M(
        "store-claim-no-attempt",
        "jobs/store.py",
        "attempts=Job.attempts + 1,",
        "attempts=Job.attempts,",
        STORE,
    ),
    M(
        "store-claim-keeps-cancel",
        "jobs/store.py",
        "            cancel_requested=False,\n            error=None,\n",
        "            error=None,\n",
        STORE,
    ),
    M(
        "store-owner-ignored",
        "jobs/store.py",
        "stmt = stmt.where(Job.worker_host == owner[0], Job.worker_pid == owner[1])",
        "stmt = stmt",
        STORE,
    ),
    M("store-succeeded-requeues", "jobs/store.py", '"succeeded": (),', '"succeeded": ("queued",),', STORE),
    M(
        "store-queued-to-succeeded",
        "jobs/store.py",
        '"queued": ("running", "cancelled"),',
        '"queued": ("running", "cancelled", "succeeded"),',
        STORE,
    ),
    M(
        "store-requeue-keeps-error",
        "jobs/store.py",
        "values.update(finished_at=None, error=None, cancel_requested=False, eta_seconds=None)",
        "values.update(finished_at=None, cancel_requested=False, eta_seconds=None)",
        STORE,
    ),
    M("store-owned-by-host-only", "jobs/store.py", "        & (Job.worker_pid == owner[1])\n", "", STORE),
    M(
        "store-heartbeat-always-ok",
        "jobs/store.py",
        "return s.execute(stmt).rowcount == 1\n\n\ndef control_state",
        "return s.execute(stmt).rowcount >= 0\n\n\ndef control_state",
        STORE,
    ),
    M(
        "store-cancel-flag-ignored",
        "jobs/store.py",
        'return "cancel" if row.cancel_requested else "run"',
        'return "run"',
        STORE,
    ),
    M(
        "store-stale-ignores-cancel",
        "jobs/store.py",
        'status = "cancelled" if job.cancel_requested else "interrupted"',
        'status = "interrupted"',
        STORE,
    ),
    M(
        "store-end-no-finish-time",
        "jobs/store.py",
        'values.setdefault("finished_at", utcnow())',
        "pass",
        STORE,
    ),
    M(
        "checkpoints-partial-counts",
        "neat/engine/rundir.py",
        "return [step for step, path in self._checkpoint_dirs() if (path / COMPLETE_MARKER).is_file()]",
        "return [step for step, path in self._checkpoint_dirs()]",
        CHECKPOINTS,
    ),
    M(
        "checkpoints-oldest",
        "neat/engine/rundir.py",
        "return steps[-1] if steps else None",
        "return steps[0] if steps else None",
        CHECKPOINTS,
    ),
    # ---- neat/engine/data_check.py: the dataset check -----------------------------------------
    M(
        "check-single-class",
        "neat/engine/data_check.py",
        "    if len(values) < 2:\n        raise DatasetError(",
        "    if len(values) < 1:\n        raise DatasetError(",
        DATA,
    ),
    M(
        "check-missing-labels",
        "neat/engine/data_check.py",
        "    if missing:\n        raise DatasetError(",
        "    if False:\n        raise DatasetError(",
        DATA,
    ),
    M(
        "check-no-duplicates",
        "neat/engine/data_check.py",
        "report.duplicate_rows = len(texts) - len(set(texts))",
        "report.duplicate_rows = 0",
        DATA,
    ),
    M(
        "check-imbalance-threshold",
        "neat/engine/data_check.py",
        "if high > 10 * low:",
        "if high > 100 * low:",
        DATA,
    ),
    M(
        "check-truncation-threshold",
        "neat/engine/data_check.py",
        "TRUNCATION_WARNING = 0.2",
        "TRUNCATION_WARNING = 0.9",
        DATA,
    ),
    M(
        "check-empty-dataset",
        "neat/engine/data_check.py",
        "if len(ds) == 0 or not ds.column_names:",
        "if not ds.column_names:",
        DATA,
    ),
    M("check-few-rows", "neat/engine/data_check.py", "if report.rows < 20:", "if report.rows < 2:", DATA),
    M(
        "check-broken-images",
        "neat/engine/data_check.py",
        "    if failures:\n        listed",
        "    if False:\n        listed",
        DATA,
    ),
    M(
        "check-empty-rows",
        "neat/engine/data_check.py",
        "report.empty_rows = sum(any(not p.strip() for p in parts) for parts in texts)",
        "report.empty_rows = sum(all(not p.strip() for p in parts) for parts in texts)",
        DATA,
    ),
    # ---- neat/engine/inference.py (labels: rundir.py): the Predictor --------------------------
    M(
        "predict-swapped-labels",
        "neat/engine/inference.py",
        "return dict(zip(names, probs))",
        "return dict(zip(reversed(names), probs))",
        PREDICT,
    ),
    M(
        "predict-no-softmax",
        "neat/engine/inference.py",
        "probs = torch.softmax(logits, dim=-1).tolist()",
        "probs = logits.tolist()",
        PREDICT,
    ),
    M(
        "predict-base-uses-adapter",
        "neat/engine/inference.py",
        "            if use_adapter:\n                yield self.model",
        "            if True:\n                yield self.model",
        PREDICT,
    ),
    M(
        "predict-regression-as-classes",
        "neat/engine/rundir.py",
        '        if data.get("regression"):\n            return None, True',
        '        if data.get("regression"):\n            return None, False',
        PREDICT,
    ),
    M(
        "predict-unseeded-base-head",
        "neat/engine/inference.py",
        "        torch.manual_seed(spec.training.seed)\n",
        "",
        PREDICT,
    ),
    M(
        "predict-greedy-always",
        "neat/engine/inference.py",
        "kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))",
        "kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)",
        CHAT,
    ),
    M(
        "predict-seed-ignored",
        "neat/engine/inference.py",
        "            torch.manual_seed(seed)\n            yield",
        "            torch.manual_seed(0)\n            yield",
        CHAT,
    ),
    M(
        "predict-no-lock",
        "neat/engine/inference.py",
        "with self._lock, precisions.autocast(",
        "with contextlib.nullcontext(), precisions.autocast(",
        CHAT,
    ),
]


# The mistakes the test suite once missed: run first, so even a short run checks them.
FIRST = (
    "train-keep-last-model",
    "train-invert-direction",
    "metrics-old-loss-only-rule",
    "predict-swapped-labels",
    "layer-token-dtype",
)


def copy_tree(dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked, minus ignored files)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[str, float, str]:
    """('passed' | 'failed' | 'timeout', seconds, last output lines)."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-W", "ignore", *tests]
    try:
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, ""
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    return ("passed" if done.returncode == 0 else "failed"), time.monotonic() - started, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only mutants whose id contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or args.only in m.id]
    mutants.sort(key=lambda m: m.id not in FIRST)  # stable: the named mistakes first, then in order
    if args.list:
        for m in mutants:
            print(f"{m.id:36} {m.file}: {m.original.strip()[:60]!r}")
        return 0

    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="neat-mutation-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        baselined: set[tuple[str, ...]] = set()
        for m in mutants:
            if m.tests not in baselined:  # lazily, so a partial run still reports whole groups
                outcome, seconds, tail = run_tests(tree, m.tests)
                print(f"baseline {' '.join(m.tests)}: {outcome} in {seconds:.0f} s", flush=True)
                if outcome != "passed":
                    print(tail, file=sys.stderr)
                    return 2
                baselined.add(m.tests)
            path = tree / m.file
            source = path.read_text(encoding="utf-8")
            if source.count(m.original) != 1:
                results.append({"id": m.id, "file": m.file, "outcome": "stale", "seconds": 0.0})
                print(f"{m.id:36} STALE (the original line is not in {m.file} exactly once)", flush=True)
                continue
            path.write_text(source.replace(m.original, m.replacement), encoding="utf-8")
            try:
                outcome, seconds, tail = run_tests(tree, m.tests)
            finally:
                path.write_text(source, encoding="utf-8")
            verdict = {"failed": "killed", "timeout": "killed (timeout)", "passed": "SURVIVED"}[outcome]
            results.append({"id": m.id, "file": m.file, "outcome": verdict, "seconds": round(seconds, 1)})
            print(f"{m.id:36} {verdict:17} {seconds:6.0f} s", flush=True)
            if args.json:  # after every mutant, so an interrupted run keeps what it learned
                args.json.write_text(json.dumps({"partial": True, "results": results}, indent=2))

    judged = [r for r in results if r["outcome"] != "stale"]
    killed = [r for r in judged if r["outcome"].startswith("killed")]
    minutes = (time.monotonic() - started) / 60
    score = 100 * len(killed) / len(judged) if judged else 0.0
    print(f"\n{len(killed)}/{len(judged)} mutants killed ({score:.0f}%) in {minutes:.0f} min")
    for r in results:
        if not r["outcome"].startswith("killed"):
            print(f"  {r['outcome']}: {r['id']} ({r['file']})")
    if args.json:
        args.json.write_text(json.dumps({"score": score, "minutes": minutes, "results": results}, indent=2))
    return 0 if score >= 90 else 1


if __name__ == "__main__":
    sys.exit(main())
