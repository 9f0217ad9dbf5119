"""The held-out test split: carved from the source or read from `dataset.test_source`, kept apart
from training and validation, and saved in the run folder so it can be scored again later.

Rows are compared by what the task reads (the text(s), the conversation, the image's bytes):
two rows with the same inputs are one example. A carved test split takes whole groups of such
duplicates, so no test input is ever trained or validated on; rows of a separate test source
that also appear in the training data are dropped from training and validation instead.

The carve uses a fixed seed, not the run's: every run on the same data (each seed of a sweep,
NEAT and its LoRA twin) is scored on the same rows, so their test metrics compare example by
example.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from datasets import Dataset, Image

from neat.engine.data import (
    DISCRETE_TASKS,
    column_roles,
    column_values,
    is_discrete,
    load_raw,
    prepare,
    split_indices,
)
from neat.engine.errors import DatasetError
from neat.engine.spec import BUILTIN_DATASETS

TEST_SPLIT_SEED = 1234  # fixed on purpose: see the module docstring
DEFAULT_HUB_SPLIT = "test"


def load_source(
    source: str, default_split: str = DEFAULT_HUB_SPLIT, hub_source: str | None = None
) -> Dataset:
    """A file, an image folder, a built-in name, a hub id (its `default_split`), `ID:SPLIT`, or
    `:SPLIT` for another split of the hub dataset `hub_source` (the spec's own source)."""
    source = source.strip()
    if source in BUILTIN_DATASETS or Path(source).expanduser().exists():
        return load_raw(source)
    name, colon, split = source.rpartition(":")
    if colon and split and "/" not in split:
        if not name:
            if not hub_source or hub_source in BUILTIN_DATASETS or Path(hub_source).expanduser().exists():
                raise DatasetError(
                    f"{source!r} names a split of the training source, which only a hub dataset has; "
                    "give a file, a folder or a hub dataset as ID:SPLIT"
                )
            name = hub_source
        return load_raw(name, split)
    return load_raw(source, default_split)


def row_keys(ds: Dataset, spec) -> list[str]:
    """Per row, a digest of the inputs the task reads: equal digests mean exact duplicates."""
    roles = column_roles(spec)
    if "image" in roles:
        column = roles["image"]
        items = column_values(ds.cast_column(column, Image(decode=False)), column)
        return [_image_digest(item or {}) for item in items]
    inputs = [role for role in ("text", "text_pair", "prompt", "response", "messages") if role in roles]
    columns = [column_values(ds, roles[role]) for role in inputs]
    return [
        hashlib.sha1(json.dumps(values, sort_keys=True, default=str).encode("utf-8")).hexdigest()
        for values in zip(*columns)
    ]


def _image_digest(item: dict) -> str:
    data = item.get("bytes")
    if data is None and item.get("path"):
        try:
            data = Path(item["path"]).read_bytes()
        except OSError:
            data = str(item["path"]).encode("utf-8")  # unreadable: the data check names it
    return hashlib.sha1(data or b"").hexdigest()


def carve_test(ds: Dataset, spec) -> tuple[Dataset, Dataset]:
    """(rest, test): `dataset.test_fraction` of the distinct inputs, stratified by label.

    The test split holds one row per distinct input; `rest` loses every row whose input is in it.
    """
    keys = row_keys(ds, spec)
    first: dict[str, int] = {}
    for row, key in enumerate(keys):
        first.setdefault(key, row)
    distinct = list(first.values())
    if len(distinct) < 3:
        raise DatasetError(
            f"need at least 3 distinct rows to carve a test split, the dataset has {len(distinct)}"
        )
    stratify = None
    if spec.task in DISCRETE_TASKS:
        labels = column_values(ds, spec.dataset.columns.label)
        if is_discrete(spec, labels):
            stratify = [labels[row] for row in distinct]
    _, picked = split_indices(len(distinct), spec.dataset.test_fraction, TEST_SPLIT_SEED, stratify)
    test_rows = [distinct[i] for i in picked]
    test_keys = {keys[row] for row in test_rows}
    rest = [row for row, key in enumerate(keys) if key not in test_keys]
    return ds.select(rest), ds.select(test_rows)


def read_test_source(spec) -> Dataset:
    """The spec's test_source, columns checked, one row per distinct input."""
    d = spec.dataset
    test = prepare(load_source(d.test_source, hub_source=d.source), spec, d.test_source, "the test set")
    if len(test) == 0:
        raise DatasetError(f"the test dataset {d.test_source} has no rows")
    seen: set[str] = set()
    keep = [row for row, key in enumerate(row_keys(test, spec)) if not (key in seen or seen.add(key))]
    return test.select(keep) if len(keep) < len(test) else test


def without_test_rows(ds: Dataset, test: Dataset, spec, where: str) -> Dataset:
    """`ds` without the rows whose inputs are also in `test`."""
    test_keys = set(row_keys(test, spec))
    keep = [row for row, key in enumerate(row_keys(ds, spec)) if key not in test_keys]
    if not keep:
        raise DatasetError(f"every row of {where} is also in the test set {spec.dataset.test_source}")
    return ds.select(keep) if len(keep) < len(ds) else ds


def save_test_split(test: Dataset, folder: Path) -> None:
    """Save the test rows (images embedded) where a later evaluation finds them."""
    import datasets

    if folder.exists():
        shutil.rmtree(folder)
    was_off = datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # a saving bar per run would clutter the training log
    try:
        test.flatten_indices().save_to_disk(str(folder))
    finally:
        if not was_off:
            datasets.enable_progress_bars()


def load_test_split(folder: Path) -> Dataset:
    if not folder.is_dir():
        raise DatasetError(
            f"this run has no saved test split ({folder.name}/ is missing: its spec set neither "
            "dataset.test_source nor dataset.test_fraction); give a data file to score instead"
        )
    return Dataset.load_from_disk(str(folder))
