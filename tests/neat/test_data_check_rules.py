"""The dataset check's rules for a newcomer's mistakes: the text column picked as labels,
mappings that name columns the file does not have, and what max_length cuts in every task."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from neat.engine.data_check import check_dataset
from neat.engine.errors import DatasetError
from neat.engine.spec import ColumnMap, DataSpec, RunSpec, TrainingSpec


def _csv(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _spec(source, task="classification", max_length=128, **columns) -> RunSpec:
    return RunSpec(
        task=task,
        dataset=DataSpec(source=str(source), columns=ColumnMap(**columns)),
        training=TrainingSpec(max_length=max_length),
    )


REVIEWS = [
    {"review": f"review number {i} was quite good", "label": ("pos", "neg")[i % 2]} for i in range(200)
]


def test_the_text_column_as_labels_is_an_error_that_says_it_looks_like_text(tmp_path):
    path = _csv(tmp_path / "reviews.csv", REVIEWS)
    with pytest.raises(DatasetError) as err:
        check_dataset(_spec(path, text="label", label="review"))
    message = str(err.value)
    assert "label column 'review' looks like a text column" in message
    assert "200 distinct values in 200 rows" in message and "classes" in message
    # the right mapping passes
    assert check_dataset(_spec(path, text="review", label="label")).label_counts == {"neg": 100, "pos": 100}


def test_repeated_texts_as_labels_still_look_like_text(tmp_path):
    # each text twice: no single-example class, still almost one class per pair of rows
    rows = [{"text": f"reply {i // 2}", "label": "x"} for i in range(200)]
    with pytest.raises(
        DatasetError, match="looks like a text column, not classes: 100 distinct values in 200 rows"
    ):
        check_dataset(_spec(_csv(tmp_path / "r.csv", rows), text="label", label="text"))


def test_an_id_column_as_labels_is_named_as_an_id(tmp_path):
    rows = [{"text": f"t {i}", "id": i} for i in range(50)]
    with pytest.raises(DatasetError, match="looks like an id or a numeric score"):
        check_dataset(_spec(_csv(tmp_path / "ids.csv", rows), label="id"))


def test_sentence_labels_with_few_classes_are_a_warning(tmp_path):
    answers = ("I would like a refund please", "Where is my parcel right now")
    rows = [{"text": f"message {i}", "label": answers[i % 2]} for i in range(40)]
    report = check_dataset(_spec(_csv(tmp_path / "s.csv", rows)))
    assert any("looks like a text column" in w and "sentences" in w for w in report.warnings)


def test_many_real_classes_pass(tmp_path):
    rows = [{"text": f"t {i}", "label": f"c{i % 20}"} for i in range(200)]  # 20 classes, 10 rows each
    report = check_dataset(_spec(_csv(tmp_path / "c.csv", rows)))
    assert len(report.label_counts) == 20 and not any("looks like" in w for w in report.warnings)


def test_chat_task_on_a_classification_csv_names_the_missing_and_the_real_columns(tmp_path):
    path = _csv(tmp_path / "reviews.csv", REVIEWS)
    with pytest.raises(DatasetError) as err:
        check_dataset(_spec(path, task="causal-lm"))
    message = str(err.value)
    assert "prompt column 'prompt' not found" in message and "response column 'response' not found" in message
    assert "Available columns: review, label" in message
    assert "causal-lm" in message  # says which task asks for them


@pytest.mark.parametrize("task", ["classification", "causal-lm", "pairs"])
def test_truncation_is_reported_for_every_task(tmp_path, minilm_tokenizer, task):
    long, short = "word " * 80, "short one"
    if task == "causal-lm":
        rows = [{"prompt": "hi", "response": long if i < 3 else short} for i in range(10)]
        spec = _spec(_csv(tmp_path / "c.csv", rows), task="causal-lm", max_length=32)
    elif task == "pairs":
        rows = [{"a": "first", "b": long if i < 3 else short, "label": i % 2} for i in range(10)]
        spec = _spec(_csv(tmp_path / "p.csv", rows), max_length=32, text="a", text_pair="b")
    else:
        rows = [{"text": long if i < 3 else short, "label": i % 2} for i in range(10)]
        spec = _spec(_csv(tmp_path / "t.csv", rows), max_length=32)
    report = check_dataset(spec, tokenizer=minilm_tokenizer)
    assert report.truncated_share == pytest.approx(0.3)
    what = "conversations" if task == "causal-lm" else "rows"
    sentence = f"30% of {what} are longer than max_length 32 tokens and will be cut"
    assert sentence in report.truncation_sentence()
    # above 20%: a warning, the same sentence the job log shows (neat/engine/train.py logs warnings)
    assert any(sentence in w for w in report.warnings)
    assert sentence in report.summary_markdown()


def test_no_truncation_says_so(tmp_path, minilm_tokenizer):
    rows = [{"text": "short", "label": i % 2} for i in range(10)]
    report = check_dataset(_spec(_csv(tmp_path / "t.csv", rows)), tokenizer=minilm_tokenizer)
    assert "no row is longer than max_length 128 tokens" in report.summary_markdown()


def test_messages_column_truncation(tmp_path, minilm_tokenizer):
    chats = [
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "word " * (80 if i < 5 else 1)}]
        for i in range(10)
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps({"messages": c}) for c in chats))
    report = check_dataset(
        _spec(path, task="causal-lm", max_length=32, messages="messages"), tokenizer=minilm_tokenizer
    )
    assert report.truncated_share == pytest.approx(0.5)
