"""The held-out test split: carved or read from a file, disjoint from training and validation."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from neat.engine.errors import DatasetError, SpecError
from neat.engine.holdout import load_test_split, row_keys, save_test_split
from neat.engine.spec import ColumnMap, DataSpec, RunSpec, TrainingSpec
from neat.engine.splits import split_dataset


def spec_for(source, task="classification", seed=7, **data) -> RunSpec:
    return RunSpec(task=task, dataset=DataSpec(source=str(source), **data), training=TrainingSpec(seed=seed))


def _reviews_with_duplicates(path):
    # 60 distinct reviews (2:1 positive), each of the first 20 written 3 times
    rows = []
    for i in range(60):
        label = "neg" if i % 3 == 0 else "pos"
        rows += [{"text": f"review {i}", "label": label}] * (3 if i < 20 else 1)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _keys(ds, spec) -> set[str]:
    return set(row_keys(ds, spec))


def test_carved_test_split_is_disjoint_duplicate_free_and_stratified(tmp_path):
    spec = spec_for(_reviews_with_duplicates(tmp_path / "r.csv"), test_fraction=0.25, validation_fraction=0.2)
    splits = split_dataset(spec)
    test_keys = row_keys(splits.test, spec)
    assert len(test_keys) == len(set(test_keys)) == 15  # a quarter of the 60 distinct inputs, once each
    assert not set(test_keys) & _keys(splits.train, spec)
    assert not set(test_keys) & _keys(splits.validation, spec)
    # every source row is either in the test split or (all its copies) in train/validation
    held_out = sum(3 if int(t.split()[1]) < 20 else 1 for t in splits.test["text"][:])
    assert len(splits.train) + len(splits.validation) + held_out == 100
    assert Counter(splits.test["label"][:]) == {"pos": 10, "neg": 5}  # the 2:1 share kept


def test_the_test_split_is_the_same_for_every_training_seed(tmp_path):
    path = _reviews_with_duplicates(tmp_path / "r.csv")
    first = split_dataset(spec_for(path, seed=1, test_fraction=0.2))
    second = split_dataset(spec_for(path, seed=2, test_fraction=0.2))
    assert first.test["text"][:] == second.test["text"][:]
    assert first.validation["text"][:] != second.validation["text"][:]  # validation still follows the seed


def test_no_test_fraction_leaves_the_splits_as_before(tmp_path):
    path = _reviews_with_duplicates(tmp_path / "r.csv")
    splits = split_dataset(spec_for(path))
    assert splits.test is None and len(splits.train) + len(splits.validation) == 100


def test_test_source_rows_are_dropped_from_training(tmp_path):
    train_path = _reviews_with_duplicates(tmp_path / "train.csv")
    test_path = tmp_path / "test.csv"
    pd.DataFrame(
        [
            {"text": "review 0", "label": "neg"},
            {"text": "review 0", "label": "neg"},
            {"text": "new", "label": "pos"},
        ]
    ).to_csv(test_path, index=False)
    spec = spec_for(train_path, test_source=str(test_path))
    splits = split_dataset(spec)
    assert splits.test["text"][:] == ["review 0", "new"]  # its own duplicate removed
    texts = splits.train["text"][:] + splits.validation["text"][:]
    assert "review 0" not in texts and len(texts) == 97  # the three copies left training


def test_test_source_needs_the_label_column(tmp_path):
    test_path = tmp_path / "test.csv"
    pd.DataFrame([{"text": "x", "stars": 1}]).to_csv(test_path, index=False)
    spec = spec_for(_reviews_with_duplicates(tmp_path / "r.csv"), test_source=str(test_path))
    with pytest.raises(
        DatasetError, match="label column 'label' not found in the test set.*Available columns"
    ):
        split_dataset(spec)


def test_a_split_of_a_local_source_is_refused(tmp_path):
    spec = spec_for(_reviews_with_duplicates(tmp_path / "r.csv"), test_source=":test")
    with pytest.raises(DatasetError, match="only a hub dataset has"):
        split_dataset(spec)


def test_saved_test_split_round_trips_images(tmp_path):
    spec = spec_for("digits", "image-classification", test_fraction=0.05)
    test = split_dataset(spec).test
    save_test_split(test, tmp_path / "test_split")
    again = load_test_split(tmp_path / "test_split")
    assert len(again) == len(test) == 90 and again[0]["image"].size == test[0]["image"].size
    assert row_keys(again, spec) == row_keys(test, spec)


@pytest.mark.parametrize(
    "data, message",
    [
        (dict(test_fraction=0.95), "dataset.test_fraction: must be in"),
        (dict(test_fraction=-0.1), "dataset.test_fraction: must be in"),
        (dict(test_fraction=0.2, test_source="t.csv"), "not both"),
        (dict(test_fraction=0.5, validation_fraction=0.5), "together must stay below 0.9"),
        (dict(test_source="  "), "dataset.test_source: must name"),
        (dict(test_source="rotten_tomatoes"), "is the training source itself"),
    ],
)
def test_spec_validation_of_the_test_fields(data, message):
    spec = RunSpec(dataset=DataSpec(source="rotten_tomatoes", columns=ColumnMap(), **data))
    with pytest.raises(SpecError, match=message):
        spec.validate()


def test_the_dataset_check_reads_the_test_source(tmp_path):
    from neat.engine.data_check import check_dataset

    test_path = tmp_path / "test.csv"
    pd.DataFrame([{"text": "x", "stars": 1}]).to_csv(test_path, index=False)
    spec = spec_for(_reviews_with_duplicates(tmp_path / "r.csv"), test_source=str(test_path))
    with pytest.raises(DatasetError, match="label column 'label' not found in the test set"):
        check_dataset(spec)
    spec.dataset.test_source = str(tmp_path / "absent.csv")
    with pytest.raises(DatasetError, match="dataset file not found"):
        check_dataset(spec)
