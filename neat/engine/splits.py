"""A spec's dataset as train, validation and (optionally) held-out test rows.

Loading and column handling are neat/engine/data.py's; the test split's rules (no input shared
with training or validation, a fixed seed) are neat/engine/holdout.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasets import Dataset

from neat.engine import holdout
from neat.engine.data import DISCRETE_TASKS, column_values, is_discrete, load_raw, prepare, split_indices
from neat.engine.errors import DatasetError


@dataclass
class Splits:
    train: Dataset
    validation: Dataset
    test: Dataset | None = None  # dataset.test_source / test_fraction; None without either


def load_splits(spec, raw: Dataset | None = None) -> tuple[Dataset, Dataset]:
    """(train, validation) for a spec, as split_dataset carves them (the test rows left out)."""
    splits = split_dataset(spec, raw)
    return splits.train, splits.validation


def split_dataset(spec, raw: Dataset | None = None) -> Splits:
    """Train, validation and test rows for a spec: max_rows applied, splits seeded and
    stratified by label, the test rows kept out of the other two (neat/engine/holdout.py).

    `raw`: the spec's dataset already loaded with load_raw (saves reading it twice).
    """
    d, seed = spec.dataset, spec.training.seed
    ds = prepare(raw if raw is not None else load_raw(d.source, d.hub_split), spec, d.source)
    if len(ds) == 0:
        raise DatasetError(f"the dataset {d.source} has no rows")
    test = None
    if d.test_fraction or d.test_source:
        if d.test_fraction:
            ds, test = holdout.carve_test(ds, spec)
        else:
            test = holdout.read_test_source(spec)
            ds = holdout.without_test_rows(ds, test, spec, f"the dataset {d.source}")
    if d.max_rows and len(ds) > d.max_rows:
        ds = ds.shuffle(seed=seed).select(range(d.max_rows))
    if d.validation_source:
        valid = prepare(
            load_raw(d.validation_source, d.hub_split), spec, d.validation_source, "the validation set"
        )
        if len(valid) == 0:
            raise DatasetError(f"the validation dataset {d.validation_source} has no rows")
        if test is not None:
            valid = holdout.without_test_rows(valid, test, spec, f"the validation set {d.validation_source}")
        return Splits(ds, valid, test)
    labels = column_values(ds, spec.dataset.columns.label) if spec.task in DISCRETE_TASKS else None
    stratify = labels if labels is not None and is_discrete(spec, labels) else None
    train_idx, eval_idx = split_indices(len(ds), d.validation_fraction, seed, stratify)
    return Splits(ds.select(train_idx), ds.select(eval_idx), test)
