"""Metrics: the facts about them (neat/engine/metrics.py: direction, each task's main metric,
what ranks a job, what is bookkeeping) and the values the engine ranks checkpoints by
(neat/engine/tasks.py), on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import EvalPrediction

from neat.engine import metrics
from neat.engine.tasks import class_metrics, regression_metrics


@pytest.mark.parametrize("name", ["loss", "eval_loss", "mse", "eval_mse", "perplexity", "mae"])
def test_errors_and_losses_are_better_lower(name):
    assert metrics.lower_is_better(name)
    assert not metrics.greater_is_better(name)


@pytest.mark.parametrize("name", ["accuracy", "eval_macro_f1", "pearson", "spearman"])
def test_scores_are_better_higher(name):
    assert metrics.greater_is_better(name)


def test_each_task_has_its_main_metric():
    assert metrics.main_metric("classification") == "accuracy"
    assert metrics.main_metric("classification", regression=True) == "pearson"
    assert metrics.main_metric("image-classification") == "accuracy"
    assert metrics.main_metric("causal-lm") == "loss"


def test_best_metric_candidates_cover_every_metric_the_tasks_report():
    assert metrics.best_candidates("classification") == ("accuracy", "macro_f1", "pearson", "loss")
    assert "macro_f1" in metrics.best_candidates("image-classification")
    assert metrics.best_candidates("causal-lm")[0] == "loss"
    assert metrics.best_candidates("classification", "eval_mse") == ("mse",)


def test_bookkeeping_is_neither_a_column_nor_a_curve():
    for name in ("eval_runtime", "eval_samples_per_second", "epoch", "train_loss", "total_flos"):
        assert metrics.is_bookkeeping(name)
        assert not metrics.is_quality_metric(name)
    for name in ("loss", "learning_rate", "grad_norm"):
        assert not metrics.is_bookkeeping(name)
        assert not metrics.is_quality_metric(name)
    assert metrics.is_quality_metric("eval_accuracy")


# -- the values: tasks.py's compute_metrics ------------------------------------------------------
def test_class_metrics_compute_accuracy_and_macro_f1():
    # predictions 0, 1, 1, 1 for labels 0, 0, 1, 1: 3 of 4 right
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [-1.0, 1.0]])
    labels = np.array([0, 0, 1, 1])
    values = class_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    assert values["accuracy"] == 0.75
    # class 0: precision 1, recall 1/2 -> f1 2/3; class 1: precision 2/3, recall 1 -> f1 4/5
    assert values["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_regression_metrics_compute_mse_pearson_spearman():
    labels = np.array([0.0, 1.0, 2.0, 3.0])
    preds = np.array([[0.5], [1.0], [2.0], [2.5]])
    values = regression_metrics(EvalPrediction(predictions=preds, label_ids=labels))
    assert values["mse"] == pytest.approx((0.25 + 0 + 0 + 0.25) / 4)
    assert values["pearson"] == pytest.approx(np.corrcoef(preds.reshape(-1), labels)[0, 1])
    assert values["spearman"] == pytest.approx(1.0)
    reversed_preds = EvalPrediction(predictions=-preds, label_ids=labels)
    assert regression_metrics(reversed_preds)["pearson"] == pytest.approx(-values["pearson"])
    constant = regression_metrics(EvalPrediction(predictions=np.ones(4), label_ids=labels))
    assert constant["pearson"] == 0.0 and constant["mse"] == pytest.approx(np.mean((labels - 1) ** 2))
