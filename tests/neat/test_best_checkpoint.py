"""The run keeps (and ends with) the best checkpoint by the chosen metric, in both directions.

Each run below is a real tiny training run whose validation curve is not monotone: its best
evaluation is neither its last nor its worst. So keeping the last model instead of the best
one, or ranking the metric the wrong way round, gives a different checkpoint and a different
final evaluation, and the test fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neat.engine.metrics import greater_is_better
from neat.engine.spec import ColumnMap
from neat.engine.train import run
from tests.tiny_runs import Recorder, classification_spec, sentiment_csv, tiny_bert_folder


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
    return tiny_bert_folder(tmp_path_factory.mktemp("models") / "bert")


def _noisy_classes(path: Path) -> Path:
    """Labels unrelated to the words: validation loss wanders while the model memorises."""
    rows = [
        f"item {i} word{i * 7 % 13} thing{i * 5 % 11},{'yes' if i * 37 % 7 < 3 else 'no'}" for i in range(64)
    ]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _noisy_scores(path: Path) -> Path:
    rows = [f"item {i} word{i * 7 % 13} thing{i * 5 % 11},{(i * 37 % 17) / 16}" for i in range(64)]
    path.write_text("text,score\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


# name: (dataset builder, metric_for_best (None: the task's main metric), metric, lower is better, steps)
CASES = {
    "accuracy": (sentiment_csv, None, "accuracy", False, 32),
    "loss": (_noisy_classes, "loss", "loss", True, 32),
    "mse": (_noisy_scores, "mse", "mse", True, 24),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_kept_checkpoint_is_the_best_evaluation(tmp_path, bert_dir, case):
    make_data, metric_for_best, metric, lower, steps = CASES[case]
    spec = classification_spec(
        bert_dir,
        make_data(tmp_path / "data.csv"),
        max_steps=steps,
        eval_steps=4,
        learning_rate=0.2,
        head_learning_rate=0.2,
        metric_for_best=metric_for_best,
    )
    if case == "mse":
        spec.dataset.columns = ColumnMap(text="text", label="score")
    recorder = Recorder()
    summary = run(spec, tmp_path / "run", [recorder])

    curve = recorder.points("eval", metric)
    assert sorted(curve) == list(range(4, steps + 1, 4))
    pick = min if lower else max
    best_value = pick(curve.values())
    best_step = min(step for step, value in curve.items() if value == best_value)  # ties: the first
    worst_value = (max if lower else min)(curve.values())
    # the run is one where the choice matters: the best is neither the last nor the worst evaluation
    assert best_step != steps and worst_value != best_value

    assert Path(summary["best_checkpoint"]).name == f"checkpoint-{best_step}"
    assert summary["best_metric"] == pytest.approx(best_value)
    assert (tmp_path / "run" / "checkpoints" / f"checkpoint-{best_step}").is_dir()
    # the saved model is the best checkpoint's: the final evaluation repeats that evaluation
    eval_losses = recorder.points("eval", "loss")
    assert summary["eval"][f"eval_{metric}"] == pytest.approx(best_value, rel=1e-5)
    assert summary["eval"]["eval_loss"] == pytest.approx(eval_losses[best_step], rel=1e-5)
    assert summary["eval"]["eval_loss"] != pytest.approx(eval_losses[steps], rel=1e-5)


@pytest.mark.parametrize(
    "metric, greater",
    [
        ("accuracy", True),
        ("macro_f1", True),
        ("eval_macro_f1", True),
        ("pearson", True),
        ("spearman", True),
        ("loss", False),
        ("eval_loss", False),
        ("mse", False),
        ("eval_mse", False),
        ("perplexity", False),
    ],
)
def test_metric_direction(metric, greater):
    assert greater_is_better(metric) is greater
