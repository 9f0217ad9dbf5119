"""Reading a spec's `dataset.source` as a `datasets.Dataset`, its columns and labels, and the
seeded stratified split of rows (neat/engine/splits.py builds train/validation/test from it).

A source is a built-in name, a data file (CSV, TSV, JSON, JSONL, Parquet), an image folder
(`folder/<class>/<image>`) or a hub id. Every way it can fail becomes a DatasetError whose
message tells the user what to fix. Tokenisation is the engine's job, not this module's.
"""

from __future__ import annotations

import bz2
import difflib
import gzip
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, Image, Value

from neat.engine.errors import DatasetError
from neat.engine.spec import BUILTIN_DATASETS

TABLE_EXTENSIONS = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
DISCRETE_TASKS = ("classification", "image-classification")


# ---- loading one source ----------------------------------------------------------------------


def load_raw(source: str, hub_split: str = "train") -> Dataset:
    """Load a source as it is: no column checks, no splitting, no tokenisation."""
    source = str(source).strip()
    if source in BUILTIN_DATASETS:
        from neat.engine.assets import builtin_dataset

        return builtin_dataset(source)
    path = Path(source).expanduser()
    if path.is_dir():
        return _load_folder(path)
    if path.is_file():
        return _load_file(path)
    if _data_suffix(path) or source.startswith(("/", "./", "../", "~")):
        raise DatasetError(f"dataset file not found: {source}")
    return _load_hub(source, hub_split)


def _data_suffix(path: Path) -> str:
    """The data format's extension, looking through a .gz/.bz2 compression suffix."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2"):
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes and suffixes[-1] in TABLE_EXTENSIONS else ""


def _load_file(path: Path) -> Dataset:
    suffix = _data_suffix(path)
    if not suffix:
        raise DatasetError(
            f"unsupported file type {''.join(path.suffixes) or '(no extension)'} for {path.name}; "
            "use CSV, TSV, JSON, JSONL or Parquet, or a folder of images per class"
        )
    try:
        data = path.read_bytes()
        if path.suffix.lower() == ".gz":
            data = gzip.decompress(data)
        elif path.suffix.lower() == ".bz2":
            data = bz2.decompress(data)
    except (OSError, EOFError, ValueError) as exc:  # unreadable, or a truncated/corrupt archive
        raise DatasetError(f"could not read {path}: {_one_line(exc)}") from exc
    if suffix == ".parquet":
        return _load_parquet(path, data)
    if not data.strip():
        raise DatasetError(f"dataset file is empty: {path}")
    text = _decode_utf8(path, data)
    if suffix in (".csv", ".tsv"):
        return _load_csv(path, text, sep="\t" if suffix == ".tsv" else ",")
    return _load_json(path, text, lines=suffix in (".jsonl", ".ndjson"))


def _decode_utf8(path: Path, data: bytes) -> str:
    """Strict UTF-8: silently replacing bytes would train on garbled text."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"{path} is not valid UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(line {line}); save the file with UTF-8 encoding and try again"
        ) from exc


def _load_csv(path: Path, text: str, sep: str) -> Dataset:
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DatasetError(f"could not parse {path.name}: {_one_line(exc)}") from exc
    return _frame_to_dataset(frame, path)


def _load_json(path: Path, text: str, lines: bool) -> Dataset:
    import pandas as pd

    try:
        records = _json_lines(text) if lines else _json_document(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"could not parse {path.name}: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if isinstance(records, dict):  # {column: [values]}
        columns = list(records.values())
        if not all(isinstance(v, list) for v in columns) or len({len(v) for v in columns}) != 1:
            raise DatasetError(f"{path.name}: expected a list of records (objects), one per row")
        return _frame_to_dataset(pd.DataFrame(records), path)
    if not all(isinstance(r, dict) for r in records):
        raise DatasetError(
            f'{path.name}: every row must be a JSON object such as {{"text": ..., "label": ...}}'
        )
    return _frame_to_dataset(pd.DataFrame.from_records(records), path)


def _json_document(text: str) -> list | dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several top-level values: it is JSON lines after all
            return _json_lines(text)
        raise
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(data) == 1 and lists and all(isinstance(r, dict) for r in lists[0]):
            return lists[0]  # {"data": [records]}, a common export shape
        return data
    if not isinstance(data, list):
        raise json.JSONDecodeError("expected a list of records", text, 0)
    return data


def _json_lines(text: str) -> list:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise _at_line(exc, number) from exc
    return rows


def _at_line(exc: json.JSONDecodeError, number: int) -> json.JSONDecodeError:
    # The parser counted lines within one JSON line; report the line in the file instead.
    err = json.JSONDecodeError(exc.msg, exc.doc, exc.pos)
    err.lineno, err.colno = number, exc.colno
    return err


def _load_parquet(path: Path, data: bytes) -> Dataset:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"could not parse {path.name}: {_one_line(exc)}") from exc
    # Dataset(table) keeps the feature types datasets stored in the file (e.g. Image columns).
    return Dataset(table)


def _frame_to_dataset(frame, path: Path) -> Dataset:
    import pyarrow as pa

    frame.columns = [str(c) for c in frame.columns]
    try:
        return Dataset.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    # A column mixing numbers and strings: keep it as text rather than refuse the file.
    for column in frame.columns:
        if frame[column].dtype == object and not frame[column].map(_is_container).any():
            frame[column] = frame[column].map(lambda v: v if v is None or _is_missing(v) else str(v))
    try:
        return Dataset.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"could not read {path.name}: {_mixed_column(frame) or _one_line(exc)}") from exc


def _mixed_column(frame) -> str | None:
    """Name the first column (and row) that mixes lists/objects with plain values."""
    for column in frame.columns:
        kinds = [
            (i, _is_container(v)) for i, v in enumerate(frame[column]) if v is not None and not _is_missing(v)
        ]
        for row, kind in kinds[1:]:
            if kind != kinds[0][1]:
                shown = str(frame[column].iloc[row])[:60]
                return f"column {column!r} mixes lists/objects with plain values (row {row} holds {shown!r})"
    return None


def _is_container(value: Any) -> bool:
    return isinstance(value, (list, dict, tuple))


def _is_missing(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _load_folder(folder: Path) -> Dataset:
    """`folder/<class>/<image>` becomes (image, label); a folder with one table loads that table."""
    classes = {
        sub.name: files
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if (files := sorted(f for f in sub.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS))
    }
    if classes:
        from datasets import Features

        images = [str(f) for files in classes.values() for f in files]
        labels = [name for name, files in classes.items() for _ in files]
        features = Features({"image": Image(), "label": Value("string")})
        return Dataset.from_dict({"image": images, "label": labels}, features=features)
    tables = [p for p in folder.iterdir() if p.is_file() and _data_suffix(p)]
    if len(tables) == 1:
        return _load_file(tables[0])
    if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir()):
        raise DatasetError(
            f"{folder}: put the images in one sub-folder per class ({folder.name}/<class>/<image>) "
            "so each image gets its label"
        )
    raise DatasetError(
        f"{folder}: found no class sub-folders with images and no single data file "
        f"({', '.join(TABLE_EXTENSIONS)})"
    )


def _load_hub(source: str, split: str) -> Dataset:
    import datasets

    try:
        ds = datasets.load_dataset(source, split=split)
    except Exception as exc:  # noqa: BLE001 - network, auth, missing split...: all one message
        hint = difflib.get_close_matches(source, list(BUILTIN_DATASETS), n=1)
        extra = f" (did you mean the built-in dataset {hint[0]!r}?)" if hint else ""
        raise DatasetError(f"could not load hub dataset {source}: {_one_line(exc)}{extra}") from exc
    if not isinstance(ds, Dataset):
        raise DatasetError(f"could not load hub dataset {source}: split {split!r} is not a single table")
    return ds


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def load_images(ds: Dataset, column: str, base_dir: str | Path = ".") -> Dataset:
    """Make `column` an Image column: paths (relative to base_dir), {bytes, path} or images."""
    feature = ds.features[column]
    if isinstance(feature, Image):
        return ds
    if isinstance(feature, Value) and feature.dtype in ("string", "large_string"):
        base = Path(base_dir).expanduser()

        def absolute(batch):  # Path join keeps absolute paths as they are
            batch[column] = [None if p is None else str(base / Path(p).expanduser()) for p in batch[column]]
            return batch

        return ds.map(absolute, batched=True).cast_column(column, Image())
    if isinstance(feature, dict) and ("bytes" in feature or "path" in feature):
        return ds.cast_column(column, Image())
    raise DatasetError(
        f"image column {column!r} holds {feature}; "
        "expected images, image file paths or {bytes, path} records"
    )


def source_dir(source: str) -> Path:
    """Where relative image paths in a table are resolved: the table's own folder."""
    path = Path(source).expanduser()
    return path.parent if path.is_file() else Path.cwd()


# ---- columns and labels ----------------------------------------------------------------------


def column_values(ds: Dataset, column: str) -> list:
    """A column as a plain list: `ds[column]` is a lazy Column in datasets 5, slow to iterate."""
    return ds[column][:]


def column_roles(spec) -> dict[str, str]:
    """Role -> column name the task reads, e.g. {"text": "review", "label": "stars"}."""
    c = spec.dataset.columns
    if spec.task == "causal-lm":
        return {"messages": c.messages} if c.messages else {"prompt": c.prompt, "response": c.response}
    if spec.task == "image-classification":
        return {"image": c.image, "label": c.label}
    roles = {"text": c.text, "label": c.label}
    if c.text_pair:
        roles["text_pair"] = c.text_pair
    return roles


def require_columns(
    ds: Dataset, spec, where: str = "the dataset", roles: dict[str, str] | None = None
) -> None:
    """Raise DatasetError naming each mapped column that is missing, with the closest names.

    `roles`: only these (role -> column); default every role the spec's task reads."""
    available = list(ds.column_names)
    problems = []
    for role, column in (roles if roles is not None else column_roles(spec)).items():
        if column not in available:
            close = difflib.get_close_matches(column, available, n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            problems.append(f"{role} column {column!r} not found in {where}{hint}")
    if problems:
        task = getattr(spec, "task", None)
        hint = (
            f" Map the {task} task's columns to these, or choose the task this file is for." if task else ""
        )
        raise DatasetError(
            f"{'; '.join(problems)}. Available columns: {', '.join(available) or '(none)'}.{hint}"
        )


def label_kind(values: list) -> str:
    """`categorical` (strings), `integer` (whole numbers) or `regression` (other floats)."""
    present = [v for v in values if v is not None and not _is_missing(v)]
    numbers = [v for v in present if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    if len(numbers) < len(present) or not present:  # strings, booleans (or anything else)
        return "categorical"
    if all(isinstance(v, (int, np.integer)) or float(v).is_integer() for v in numbers):
        return "integer"
    return "regression"


def is_discrete(spec, labels: list) -> bool:
    return spec.task in DISCRETE_TASKS and label_kind(labels) != "regression"


# ---- splits ----------------------------------------------------------------------------------


def prepare(ds: Dataset, spec, source: str, where: str = "the dataset") -> Dataset:
    """Check the mapped columns exist and make image columns decodable."""
    require_columns(ds, spec, where)
    if spec.task == "image-classification":
        ds = load_images(ds, spec.dataset.columns.image, source_dir(source))
    return ds


def split_indices(n: int, fraction: float, seed: int, labels: list | None = None) -> tuple[list, list]:
    """Seeded train/eval row indices; with labels, each class keeps its share in both parts."""
    if n < 2:
        raise DatasetError(f"need at least 2 rows to carve a validation split, got {n}")
    rng = np.random.default_rng(seed)
    n_eval = min(max(1, round(n * fraction)), n - 1)
    if labels is None:
        order = rng.permutation(n)
        return _shuffled(order[n_eval:], rng), _shuffled(order[:n_eval], rng)
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(repr(label), []).append(i)
    keys = sorted(groups)
    # Largest-remainder allocation: per-class quotas that add up to n_eval exactly, never taking
    # a class's last row (so every class is still seen in training).
    exact = {k: len(groups[k]) * n_eval / n for k in keys}
    quota = {k: min(math.floor(exact[k]), len(groups[k]) - 1) for k in keys}
    for k in sorted(keys, key=lambda k: exact[k] - quota[k], reverse=True):
        if sum(quota.values()) >= n_eval:
            break
        if quota[k] < len(groups[k]) - 1:
            quota[k] += 1
    train, valid = [], []
    for k in keys:
        members = rng.permutation(groups[k])
        valid.extend(members[: quota[k]])
        train.extend(members[quota[k] :])
    if not valid:  # every class has a single row: fall back to a plain random split
        return split_indices(n, fraction, seed)
    return _shuffled(train, rng), _shuffled(valid, rng)


def _shuffled(indices, rng: np.random.Generator) -> list[int]:
    """The indices in a seeded random order (so classes are interleaved), as plain ints."""
    indices = np.asarray(indices, dtype=np.int64)
    return [int(i) for i in indices[rng.permutation(len(indices))]]
