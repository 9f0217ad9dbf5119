"""The evaluation metrics the engine ranks checkpoints by, on hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import EvalPrediction

from neat.tasks import class_metrics, regression_metrics


def test_class_metrics_accuracy_and_macro_f1():
    # predictions 0, 1, 1, 1 for labels 0, 0, 1, 1: 3 of 4 right
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [-1.0, 1.0]])
    labels = np.array([0, 0, 1, 1])
    metrics = class_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    assert metrics["accuracy"] == 0.75
    # class 0: precision 1, recall 1/2 -> f1 2/3; class 1: precision 2/3, recall 1 -> f1 4/5
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_regression_metrics():
    labels = np.array([0.0, 1.0, 2.0, 3.0])
    preds = np.array([[0.5], [1.0], [2.0], [2.5]])
    metrics = regression_metrics(EvalPrediction(predictions=preds, label_ids=labels))
    assert metrics["mse"] == pytest.approx((0.25 + 0 + 0 + 0.25) / 4)
    assert metrics["pearson"] == pytest.approx(np.corrcoef(preds.reshape(-1), labels)[0, 1])
    assert metrics["spearman"] == pytest.approx(1.0)
    reversed_preds = EvalPrediction(predictions=-preds, label_ids=labels)
    assert regression_metrics(reversed_preds)["pearson"] == pytest.approx(-metrics["pearson"])
    constant = regression_metrics(EvalPrediction(predictions=np.ones(4), label_ids=labels))
    assert constant["pearson"] == 0.0 and constant["mse"] == pytest.approx(np.mean((labels - 1) ** 2))
