"""Metric facts: direction, each task's main metric, what ranks a job, what is bookkeeping."""

from __future__ import annotations

import pytest

from neat.engine import metrics


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
