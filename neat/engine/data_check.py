"""Look at a dataset before training on it: fail early with a clear reason, or report what to expect.

`check_dataset` raises DatasetError for data that cannot train (no rows, a missing column, one
class, images that do not open, malformed chat rows) and otherwise returns a DatasetReport:
sizes, label balance, empty and duplicate rows, token lengths and soft warnings for the UI.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, Image, LargeList, List, Value

from neat.engine.data import (
    DISCRETE_TASKS,
    column_roles,
    column_values,
    is_discrete,
    label_kind,
    load_images,
    load_raw,
    require_columns,
    source_dir,
)
from neat.engine.errors import DatasetError

# Token statistics on a seeded sample: the Train tab checks again on every mapping change, and
# 2,000 rows put the percentiles and the truncated share within about a point (the job log
# reads the same sample, so both say the same number).
TOKEN_SAMPLE = 2_000
PREVIEW_CHARS = 200
TRUNCATION_WARNING = 0.2  # a share of rows cut by max_length above this is a warning


@dataclass
class DatasetReport:
    source: str
    task: str
    rows: int
    columns: list[str]
    dtypes: dict[str, str]
    roles: dict[str, str]  # role -> column, e.g. {"text": "review", "label": "stars"}
    label_kind: str | None = None  # categorical | integer | regression
    label_counts: dict[str, int] = field(default_factory=dict)
    label_stats: dict[str, float] | None = None  # min/max/mean for regression labels
    empty_rows: int = 0
    duplicate_rows: int = 0
    token_lengths: dict[str, int] | None = None  # p50, p90, p99, max (with a tokenizer)
    truncated_share: float | None = None  # share of rows longer than max_length
    max_length: int | None = None
    token_rows: int | None = None  # rows the token statistics were computed on
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def truncation_sentence(self) -> str:
        """What max_length cuts, in the words the Train tab's check and the job log both use."""
        if self.truncated_share is None:
            return ""
        if self.truncated_share == 0:
            return f"no row is longer than max_length {self.max_length} tokens"
        what = "conversations" if self.task == "causal-lm" else "rows"
        return (
            f"{self.truncated_share:.0%} of {what} are longer than max_length {self.max_length} tokens "
            f"and will be cut (p90 is {self.token_lengths['p90']})"
        )

    def summary_markdown(self) -> str:
        dtypes = ", ".join(f"{c}: {t}" for c, t in self.dtypes.items())
        lines = [f"**{self.rows:,} rows**, {len(self.columns)} columns ({dtypes})", ""]
        if self.label_counts:
            shown = list(self.label_counts.items())  # in label order; by size when there are many
            if len(shown) > 20:
                shown.sort(key=lambda kv: -kv[1])
            parts = [f"{k}: {v:,} ({v / self.rows:.1%})" for k, v in shown[:20]]
            more = f", … {len(shown) - 20} more" if len(shown) > 20 else ""
            lines.append(f"- Labels ({self.label_kind}, {len(shown)} classes): {', '.join(parts)}{more}")
        elif self.label_stats:
            s = self.label_stats
            lines.append(
                f"- Labels ({self.label_kind}): min {s['min']:g}, max {s['max']:g}, mean {s['mean']:.3g}"
            )
        lines.append(f"- Empty rows: {self.empty_rows:,} · duplicate rows: {self.duplicate_rows:,}")
        if self.token_lengths:
            t = self.token_lengths
            lines.append(
                f"- Tokens per row: p50 {t['p50']}, p90 {t['p90']}, p99 {t['p99']}, max {t['max']}"
                + ("" if self.truncation_sentence() in self.warnings else "; " + self.truncation_sentence())
            )
        if self.warnings:
            lines += ["", "**Warnings**"] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines)


def check_dataset(spec, tokenizer=None, raw: Dataset | None = None) -> DatasetReport:
    """Validate the spec's dataset (or `raw`, already loaded) and describe it."""
    d = spec.dataset
    ds = raw if raw is not None else load_raw(d.source, d.hub_split)
    if len(ds) == 0 or not ds.column_names:
        raise DatasetError(f"the dataset {d.source} has no rows")
    require_columns(ds, spec)
    roles = column_roles(spec)
    _check_roles(ds, spec, roles)
    report = DatasetReport(
        source=d.source,
        task=spec.task,
        rows=len(ds),
        columns=list(ds.column_names),
        dtypes={c: _dtype_name(f) for c, f in ds.features.items()},
        roles=roles,
    )
    if spec.task == "image-classification":  # a file that does not open is the first thing to fix
        _check_images(load_images(ds, roles["image"], source_dir(d.source)), roles["image"], report)
    if spec.task in DISCRETE_TASKS:
        _check_labels(column_values(ds, roles["label"]), roles["label"], spec, report)
    if spec.task != "image-classification":
        texts = _text_inputs(ds, roles)
        report.empty_rows = sum(any(not p.strip() for p in parts) for parts in texts)
        report.duplicate_rows = len(texts) - len(set(texts))
        if spec.task == "causal-lm":
            _check_responses(ds, roles, report)
        if tokenizer is not None:
            _token_stats(ds, roles, spec, tokenizer, report)
    if d.validation_source:
        _check_validation(spec, ds, report)
    if d.test_source:
        _check_test_source(spec)
    _soft_warnings(report)
    return report


def _check_roles(ds: Dataset, spec, roles: dict[str, str]) -> None:
    """One column per role, and plain values (text, numbers) where the task reads plain values."""
    if "label" in roles:
        for other in ("text", "text_pair"):
            if roles.get(other) == roles["label"]:
                raise DatasetError(
                    f"the label column {roles['label']!r} is also the {other.replace('_', ' ')} column; "
                    "choose the column that holds the classes as labels"
                )
    for role in ("text", "text_pair", "label", "prompt", "response"):
        column = roles.get(role)
        feature = ds.features.get(column) if column else None
        if feature is not None and not isinstance(feature, (Value, ClassLabel)):
            kind = _feature_type(feature)
            raise DatasetError(
                f"the {role.replace('_', ' ')} column {column!r} holds nested values ({kind}), "
                "not plain text or labels; choose a column of plain values or flatten it first"
            )


def _feature_type(feature) -> str:
    if isinstance(feature, (List, LargeList)):
        return f"list of {_feature_type(feature.feature)}"
    if isinstance(feature, dict):
        return "struct {" + ", ".join(f"{k}: {_feature_type(v)}" for k, v in feature.items()) + "}"
    if isinstance(feature, Value):
        return feature.dtype
    return type(feature).__name__


def _dtype_name(feature) -> str:
    if isinstance(feature, Image):
        return "image"
    return getattr(feature, "dtype", None) or type(feature).__name__.lower()


# ---- labels ----------------------------------------------------------------------------------


def _check_labels(labels: list, column: str, spec, report: DatasetReport) -> None:
    missing = [i for i, v in enumerate(labels) if v is None or (isinstance(v, float) and math.isnan(v))]
    if missing:
        raise DatasetError(
            f"label column {column!r} has {len(missing)} empty value(s) (first at row {missing[0]}); "
            "every row needs a label"
        )
    _refuse_mixed_labels(labels, column)
    report.label_kind = label_kind(labels)
    if not is_discrete(spec, labels):
        values = np.asarray(labels, dtype=float)
        report.label_stats = {
            "min": float(values.min()),
            "max": float(values.max()),
            "mean": float(values.mean()),
        }
        report.warnings.append(
            f"label column {column!r} holds non-integer numbers (it looks like regression); "
            "each distinct value would become its own class"
        )
        return
    values, counts = np.unique(np.asarray([str(v) for v in labels]), return_counts=True)
    if report.label_kind == "integer":  # order 2 before 10
        order = np.argsort([float(v) for v in values], kind="stable")
        values, counts = values[order], counts[order]
    report.label_counts = {str(v): int(c) for v, c in zip(values, counts)}
    _refuse_text_as_labels(values, labels, column, report)
    if len(values) < 2:
        raise DatasetError(
            f"label column {column!r} has a single class ({str(values[0])!r}); classification needs at "
            "least two classes"
        )
    single = [k for k, c in report.label_counts.items() if c == 1]
    if single:
        shown = ", ".join(repr(k) for k in single[:10]) + (
            f", … {len(single) - 10} more" if len(single) > 10 else ""
        )
        every = " (every class)" if len(single) == len(values) else ""
        raise DatasetError(
            f"label column {column!r}: {len(single)} class(es){every} have a single example ({shown}); each "
            "class needs at least two rows, one to learn from and one to validate on. Is it the right column?"
        )


# A label column with at least this share of its rows as distinct values (and more than
# TEXT_LIKE_MIN_CLASSES of them) holds texts or ids, not classes: each class would have about
# one or two examples.
TEXT_LIKE_UNIQUE_SHARE = 0.5
TEXT_LIKE_MIN_CLASSES = 10
SENTENCE_WORDS = 4  # labels whose median value has this many words read as sentences


def _refuse_text_as_labels(values, labels: list, column: str, report: DatasetReport) -> None:
    """The text column picked as the label column: an error when almost every value is its
    own class, a warning when the classes are whole sentences."""
    distinct, rows = len(values), len(labels)
    examples = ", ".join(repr(_cut(str(v), 40)) for v in list(values)[:3])
    if distinct > TEXT_LIKE_MIN_CLASSES and distinct >= TEXT_LIKE_UNIQUE_SHARE * rows:
        what = "a text column" if report.label_kind == "categorical" else "an id or a numeric score"
        raise DatasetError(
            f"label column {column!r} looks like {what}, not classes: {distinct:,} distinct values in "
            f"{rows:,} rows (e.g. {examples}), about {rows / distinct:.1f} rows per class. Choose the "
            "column that holds the classes as the label column"
        )
    if report.label_kind == "categorical":
        words = float(np.median([len(str(v).split()) for v in values]))
        if words >= SENTENCE_WORDS:
            report.warnings.append(
                f"label column {column!r} looks like a text column: its {distinct:,} classes are "
                f"sentences (median {words:.0f} words; e.g. {examples}); is it the right column?"
            )


_INTEGER_TEXT = re.compile(r"[+-]?\d+")


def _refuse_mixed_labels(labels: list, column: str) -> None:
    """Integers next to words (`1, 0, "pos", "neg"`) are two labelling schemes, not four classes.

    Files store such a column as text (CSV always, JSON once pandas meets both kinds), so the
    test is on the values' spelling: whole numbers and other text in one column is an error.
    """
    numbers = {str(v).strip() for v in labels if isinstance(v, (int, np.integer)) and not isinstance(v, bool)}
    words = set()
    for v in labels:
        if isinstance(v, str):
            (numbers if _INTEGER_TEXT.fullmatch(v.strip()) else words).add(v.strip())
    if numbers and words:
        ints = ", ".join(sorted(numbers, key=lambda x: int(x))[:5])
        text = ", ".join(repr(w) for w in sorted(words)[:5])
        raise DatasetError(
            f"label column {column!r} mixes two kinds of labels: integers ({ints}) and text ({text}); "
            "use one kind (e.g. map the numbers to their names) so each class is one label"
        )


# ---- images ----------------------------------------------------------------------------------


def _check_images(ds: Dataset, column: str, report: DatasetReport) -> None:
    """Open every image (header + data check) so a bad file fails now, not mid-training."""
    from PIL import Image as PILImage

    raw = column_values(ds.cast_column(column, Image(decode=False)), column)
    failures, digests = [], []
    for row, item in enumerate(raw):
        item = item or {}
        data, path = item.get("bytes"), item.get("path")
        name = Path(path).name if path else f"row {row}"
        try:
            if data is None:
                if not path:
                    raise ValueError("no image in this row")
                data = Path(path).read_bytes()
            with PILImage.open(io.BytesIO(data)) as image:
                image.verify()
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
            reason = "file not found" if isinstance(exc, FileNotFoundError) else " ".join(str(exc).split())
            failures.append(f"row {row} ({name}): {reason}")
            continue
        digests.append(hashlib.sha1(data).digest())
    if failures:
        listed = "; ".join(failures[:5]) + (f"; … {len(failures) - 5} more" if len(failures) > 5 else "")
        raise DatasetError(f"{len(failures)} image(s) in column {column!r} do not open: {listed}")
    report.duplicate_rows = len(digests) - len(set(digests))


# ---- text ------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _text_inputs(ds: Dataset, roles: dict[str, str]) -> list[tuple[str, ...]]:
    """Per row, the input texts that the task reads (what empty and duplicate rows mean)."""
    if "messages" in roles:
        rows = column_values(ds, roles["messages"])
        _check_messages(rows, roles["messages"])
        # A chat counts as empty when no turn has content; duplicates compare whole chats.
        return [
            (" ".join(_text(m.get("content")) for m in chat), json.dumps(chat, sort_keys=True, default=str))
            for chat in rows
        ]
    inputs = [r for r in ("text", "text_pair", "prompt", "response") if r in roles]
    columns = [column_values(ds, roles[r]) for r in inputs]
    return [tuple(_text(v) for v in values) for values in zip(*columns)]


def _check_responses(ds: Dataset, roles: dict[str, str], report: DatasetReport) -> None:
    """Responses are what a chat model learns: none at all is an error, some empty a warning."""
    if "messages" in roles:
        chats = column_values(ds, roles["messages"])
        empty = sum(
            not any(m.get("role") == "assistant" and _text(m.get("content")).strip() for m in chat)
            for chat in chats
        )
        where = f"chat column {roles['messages']!r} (assistant turns)"
    else:
        empty = sum(not _text(v).strip() for v in column_values(ds, roles["response"]))
        where = f"response column {roles['response']!r}"
    if empty == len(ds):
        raise DatasetError(f"every response in the {where} is empty: there is nothing to learn")
    if empty:
        report.warnings.append(
            f"{empty:,} of {len(ds):,} row(s) have an empty response in the {where}; they train nothing"
        )


def chat_rows(ds: Dataset, spec, rows: list[int]) -> list[list[dict]]:
    """The conversations of `rows` as the engine builds them from the spec's columns."""
    return _chats(ds, column_roles(spec), rows)


def _check_messages(rows: list, column: str) -> None:
    for row, chat in enumerate(rows):
        ok = isinstance(chat, list) and all(
            # Arrow fills keys missing in some rows with None, so test the values, not the keys.
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in chat
        )
        if not ok:
            shown = _cut(json.dumps(chat, default=str), 80)
            raise DatasetError(
                f"messages column {column!r} must hold a list of {{role, content}} turns per row; "
                f"row {row} holds {shown}"
            )


def _chats(ds: Dataset, roles: dict[str, str], rows: list[int]) -> list[list[dict]]:
    if "messages" in roles:
        column = column_values(ds, roles["messages"])
        return [[{"role": m["role"], "content": _text(m["content"])} for m in column[i]] for i in rows]
    prompts, responses = column_values(ds, roles["prompt"]), column_values(ds, roles["response"])
    return [
        [
            {"role": "user", "content": _text(prompts[i])},
            {"role": "assistant", "content": _text(responses[i])},
        ]
        for i in rows
    ]


def _token_stats(ds: Dataset, roles: dict[str, str], spec, tokenizer, report: DatasetReport) -> None:
    rows = list(range(len(ds)))
    if len(rows) > TOKEN_SAMPLE:
        rows = sorted(np.random.default_rng(0).choice(len(rows), TOKEN_SAMPLE, replace=False).tolist())
    if spec.task == "causal-lm":
        chats = _chats(ds, roles, rows)
        if getattr(tokenizer, "chat_template", None):
            # Measure what the engine trains on: the chat template adds role markers.
            texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in chats]
            ids = _tokenize(tokenizer, texts, None, add_special_tokens=False)
        else:
            texts = ["\n".join(m["content"] for m in c) for c in chats]
            ids = _tokenize(tokenizer, texts, None, add_special_tokens=True)
    else:
        texts = [_text(v) for v in _pick(column_values(ds, roles["text"]), rows)]
        pairs = None
        if "text_pair" in roles:
            pairs = [_text(v) for v in _pick(column_values(ds, roles["text_pair"]), rows)]
        ids = _tokenize(tokenizer, texts, pairs, add_special_tokens=True)
    lengths = np.asarray([len(x) for x in ids])
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    report.token_lengths = {"p50": int(p50), "p90": int(p90), "p99": int(p99), "max": int(lengths.max())}
    report.max_length = spec.training.max_length
    report.truncated_share = float((lengths > spec.training.max_length).mean())
    report.token_rows = len(rows)


def _pick(values: list, rows: list[int]) -> list:
    return values if len(rows) == len(values) else [values[i] for i in rows]


def _tokenize(tokenizer, texts: list[str], pairs: list[str] | None, add_special_tokens: bool) -> list:
    ids: list = []
    for start in range(0, len(texts), 1000):  # chunks keep memory flat on big datasets
        batch = texts[start : start + 1000]
        pair = pairs[start : start + 1000] if pairs is not None else None
        out = tokenizer(batch, pair, truncation=False, add_special_tokens=add_special_tokens, verbose=False)
        ids.extend(out["input_ids"])
    return ids


# ---- validation file and warnings ------------------------------------------------------------


def _check_validation(spec, train: Dataset, report: DatasetReport) -> None:
    d = spec.dataset
    valid = load_raw(d.validation_source, d.hub_split)
    if len(valid) == 0:
        raise DatasetError(f"the validation dataset {d.validation_source} has no rows")
    require_columns(valid, spec, "the validation set")
    if spec.task in DISCRETE_TASKS and report.label_counts:
        unseen = {str(v) for v in column_values(valid, report.roles["label"])} - set(report.label_counts)
        if unseen:
            report.warnings.append(
                f"the validation set has labels never seen in training: {', '.join(sorted(unseen)[:10])}"
            )


def _check_test_source(spec) -> None:
    """The test set loads and has the columns scoring needs (neat/engine/holdout.py)."""
    from neat.engine.holdout import load_source

    d = spec.dataset
    test = load_source(d.test_source, hub_source=d.source)
    if len(test) == 0:
        raise DatasetError(f"the test dataset {d.test_source} has no rows")
    require_columns(test, spec, "the test set")


def _soft_warnings(report: DatasetReport) -> None:
    w = report.warnings
    if report.rows < 20:
        w.append(f"only {report.rows} rows: too few to learn from or to evaluate reliably")
    if report.empty_rows:
        w.append(f"{report.empty_rows:,} row(s) have empty input text")
    if report.duplicate_rows:
        w.append(
            f"{report.duplicate_rows:,} duplicate row(s) (same input); duplicates can leak into validation"
        )
    if report.truncated_share is not None and report.truncated_share > TRUNCATION_WARNING:
        w.append(report.truncation_sentence())
    if len(report.label_counts) >= 2:
        by_count = sorted(report.label_counts.items(), key=lambda kv: kv[1])
        (least, low), (most, high) = by_count[0], by_count[-1]
        if high > 10 * low:
            w.append(
                f"classes are imbalanced {high / low:.0f}:1 ({most!r} has {high:,} rows, "
                f"{least!r} has {low:,}); accuracy alone will look better than the model is"
            )


# ---- preview and suggestions for the UI ------------------------------------------------------


def preview(ds: Dataset, n: int = 5) -> list[dict]:
    """The first n rows as JSON-safe dicts: images as "<image WxH>", long text cut."""
    head = ds.select(range(min(n, len(ds))))
    return [{k: _json_safe(v) for k, v in row.items()} for row in head]


def _cut(text: str, limit: int = PREVIEW_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_safe(value: Any) -> Any:
    from PIL import Image as PILImage

    if isinstance(value, PILImage.Image):
        return f"<image {value.width}x{value.height}>"
    if isinstance(value, dict) and set(value) <= {"bytes", "path"} and value:
        return f"<image {Path(value['path']).name}>" if value.get("path") else "<image>"
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value[:20]]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return _cut(str(value))


# Column names that usually play a role, most telling first.
_ROLE_NAMES = {
    "text": ("text", "sentence", "review", "content", "document", "tweet", "comment", "sentence1", "premise"),
    "text_pair": ("text_pair", "sentence2", "hypothesis", "text2"),
    "label": ("label", "labels", "category", "class", "target", "sentiment", "y", "rating", "stars", "score"),
    "prompt": ("prompt", "instruction", "question", "input", "query"),
    "response": ("response", "output", "answer", "completion", "reply"),
    "messages": ("messages", "conversations", "conversation", "chat", "dialog"),
    "image": ("image", "img", "image_path", "path", "file", "filename", "file_name"),
}
_TASK_ROLES = {
    "classification": ("text", "text_pair", "label"),
    "causal-lm": ("messages", "prompt", "response"),
    "image-classification": ("image", "label"),
}


def suggest_columns(columns: list[str], task: str) -> dict[str, str]:
    """Role -> column guessed from the names (only the roles found), e.g. {"text": "review"}."""
    found: dict[str, str] = {}
    for role in _TASK_ROLES.get(task, ()):
        column = _match(columns, _ROLE_NAMES[role], taken=set(found.values()))
        if column:
            found[role] = column
    if task == "causal-lm" and "messages" in found:
        found = {"messages": found["messages"]}  # a chat column replaces prompt/response
    return found


def suggest_task(columns: list[str]) -> str | None:
    """The task the column names point to, or None when they say nothing clear."""
    has = {role: _match(columns, names, set()) is not None for role, names in _ROLE_NAMES.items()}
    if has["image"] and has["label"]:
        return "image-classification"
    if has["messages"] or (has["prompt"] and has["response"]):
        return "causal-lm"
    if has["text"] and has["label"]:
        return "classification"
    return None


def _match(columns: list[str], names: tuple[str, ...], taken: set[str]) -> str | None:
    free = [c for c in columns if c not in taken]
    lower = {c.lower(): c for c in free}
    for name in names:  # exact (case-insensitive) names first...
        if name in lower:
            return lower[name]
    for name in names:  # ...then a name inside a longer one, e.g. "review_text"
        if len(name) > 2:
            for column in free:
                if name in column.lower():
                    return column
    return None
