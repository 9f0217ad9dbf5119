"""The metrics of an evaluation (neat/engine/evaluate.py), from labels and predictions.

The same definitions as training's (neat/engine/tasks.py): macro F1 over the classes present,
Pearson/Spearman correlations. A correlation is None (null in JSON) when either side is
constant, where it is undefined.
"""

from __future__ import annotations

import math

import numpy as np


def classification_metrics(truth: list[str], predicted: list[str], labels: list[str]) -> dict:
    """accuracy, macro_f1, per_class and confusion_matrix (rows: true, columns: predicted, in
    `labels` order; true labels the run never saw are appended to the order)."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    order = list(labels) + sorted({t for t in truth} - set(labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=order, zero_division=0
    )
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(order)
    }
    hits = sum(t == p for t, p in zip(truth, predicted))
    return {
        "accuracy": hits / len(truth),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "labels": order,
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(truth, predicted, labels=order).tolist(),
    }


def regression_metrics(truth: list[float], predicted: list[float]) -> dict:
    from scipy.stats import pearsonr, spearmanr

    y, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    constant = len(y) < 2 or np.allclose(y, y[0]) or np.allclose(p, p[0])
    return {
        "mse": float(((p - y) ** 2).mean()),
        "mae": float(np.abs(p - y).mean()),
        "pearson": None if constant else float(pearsonr(p, y)[0]),
        "spearman": None if constant else float(spearmanr(p, y)[0]),
    }


def language_model_metrics(nll_sum: float, tokens: int) -> dict:
    """Token-weighted mean loss over every response token, its perplexity and the token count."""
    loss = nll_sum / tokens if tokens else None
    return {
        "loss": loss,
        "perplexity": None if loss is None else math.exp(min(loss, 50.0)),
        "tokens": int(tokens),
    }


def flat_metrics(metrics: dict) -> dict:
    """The scalar metrics and n: what summary.json and the Jobs table keep."""
    skip = {"task", "kind", "labelled", "data", "labels", "per_class", "confusion_matrix"}
    return {
        k: v
        for k, v in metrics.items()
        if k not in skip and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
    }
