"""Facts about metrics, each said once: which direction is better, which metric ranks a run of
each task, and which logged keys are bookkeeping rather than quality.

Used by the Trainer set-up (metric_for_best_model / greater_is_better), the event bridge
(which keys become curve points), the job listener (the best metric shown per job) and the
app's Jobs and Compare tabs. Names may carry Trainer's `eval_` prefix; it is ignored here.
"""

from __future__ import annotations

# A metric whose name holds one of these words is better when lower.
_LOWER_IS_BETTER = ("loss", "perplexity", "error", "mse", "mae")

# The metric that picks the best checkpoint when the spec names none.
_MAIN_METRIC = {"classification": "accuracy", "image-classification": "accuracy", "causal-lm": "loss"}
REGRESSION_MAIN_METRIC = "pearson"  # a classification task whose labels are fractional numbers

# The metrics a job's "best metric" is taken from, most preferred first (each task's metrics:
# neat/engine/tasks.py). A regression run has no accuracy, so it is ranked by pearson.
_BEST_CANDIDATES = {
    "classification": ("accuracy", "macro_f1", "pearson", "loss"),
    "image-classification": ("accuracy", "macro_f1", "loss"),
    "causal-lm": ("loss", "perplexity"),
}

# Trainer's end-of-training summary: one number per run, not a point on a curve.
TRAINER_SUMMARY_KEYS = frozenset(
    {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"}
)
# Timing and position, logged next to the metrics.
_BOOKKEEPING = frozenset({"epoch", "step", "runtime", "samples_per_second", "steps_per_second", "total_flos"})
# Logged every step to follow the optimiser; drawn on their own charts, not as quality.
_OPTIMISER = frozenset({"loss", "learning_rate", "lr", "grad_norm"})


def bare(name: str) -> str:
    """The metric name without Trainer's `eval_` prefix."""
    return name.removeprefix("eval_")


def lower_is_better(name: str) -> bool:
    return any(word in name.lower() for word in _LOWER_IS_BETTER)


def greater_is_better(name: str) -> bool:
    return not lower_is_better(name)


def main_metric(task: str, regression: bool = False) -> str:
    """The metric that ranks checkpoints of `task` by default (without the eval_ prefix)."""
    if regression and task == "classification":
        return REGRESSION_MAIN_METRIC
    return _MAIN_METRIC.get(task, "loss")


def best_candidates(task: str, metric_for_best: str | None = None) -> tuple[str, ...]:
    """Which metrics a job's best metric is taken from: the spec's choice, else the task's."""
    if metric_for_best:
        return (bare(metric_for_best),)
    return _BEST_CANDIDATES.get(task, ("loss",))


def is_bookkeeping(name: str) -> bool:
    """Timing, position or run summary: never a quality metric, never worth a column."""
    name = bare(name)
    return name in _BOOKKEEPING or name in TRAINER_SUMMARY_KEYS or name.endswith(("_runtime", "_per_second"))


def is_quality_metric(name: str) -> bool:
    """An evaluation metric to chart and compare (loss and the optimiser's values excluded)."""
    return not is_bookkeeping(name) and bare(name) not in _OPTIMISER
