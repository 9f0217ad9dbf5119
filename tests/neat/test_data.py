"""Loading, splitting and checking datasets, with real files written to tmp_path."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from neat.engine.data import load_images, load_raw, split_indices
from neat.engine.data_check import check_dataset, preview, suggest_columns, suggest_task
from neat.engine.errors import DatasetError
from neat.engine.spec import ColumnMap, DataSpec, RunSpec, TrainingSpec
from neat.engine.splits import load_splits

ROWS = [
    {"text": "a great film", "label": "pos"},
    {"text": "dull and slow", "label": "neg"},
    {"text": "loved it", "label": "pos"},
    {"text": "not for me", "label": "neg"},
]


def spec_for(source, task="classification", columns=None, **data) -> RunSpec:
    return RunSpec(
        task=task,
        dataset=DataSpec(source=str(source), columns=columns or ColumnMap(), **data),
        training=TrainingSpec(seed=7),
    )


def write_image(path: Path, colour=(255, 0, 0), size=(8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


# ---- formats ---------------------------------------------------------------------------------


def _csv(p):
    pd.DataFrame(ROWS).to_csv(p, index=False)


def _tsv(p):
    pd.DataFrame(ROWS).to_csv(p, sep="\t", index=False)


def _json_array(p):
    p.write_text(json.dumps(ROWS), encoding="utf-8")


def _json_lines_in_json(p):
    p.write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")


def _json_wrapped(p):
    p.write_text(json.dumps({"data": ROWS}), encoding="utf-8")


def _json_columns(p):
    p.write_text(json.dumps({k: [r[k] for r in ROWS] for k in ROWS[0]}), encoding="utf-8")


def _jsonl(p):
    p.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n", encoding="utf-8")


def _parquet(p):
    pd.DataFrame(ROWS).to_parquet(p, index=False)


def _csv_gz(p):
    p.write_bytes(gzip.compress(pd.DataFrame(ROWS).to_csv(index=False).encode()))


def _csv_bom(p):
    p.write_bytes(b"\xef\xbb\xbf" + pd.DataFrame(ROWS).to_csv(index=False).encode())


@pytest.mark.parametrize(
    "name, write",
    [
        ("d.csv", _csv),
        ("d.tsv", _tsv),
        ("d.json", _json_array),
        ("lines.json", _json_lines_in_json),
        ("wrapped.json", _json_wrapped),
        ("columns.json", _json_columns),
        ("d.jsonl", _jsonl),
        ("d.parquet", _parquet),
        ("d.csv.gz", _csv_gz),
        ("bom.csv", _csv_bom),
    ],
)
def test_each_file_format_loads(tmp_path, name, write):
    path = tmp_path / name
    write(path)
    ds = load_raw(str(path))
    assert ds.column_names == ["text", "label"]
    assert ds.to_list() == ROWS


def test_messages_jsonl_keeps_nested_turns(tmp_path):
    chats = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"messages": [{"role": "user", "content": "bye"}, {"role": "assistant", "content": "see you"}]},
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in chats), encoding="utf-8")
    ds = load_raw(str(path))
    assert ds[1]["messages"][1] == {"role": "assistant", "content": "see you"}


def test_mixed_type_column_is_read_as_text(tmp_path):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([{"text": 1, "label": "a"}, {"text": "two", "label": "b"}]), encoding="utf-8")
    assert load_raw(str(path))["text"][:] == ["1", "two"]


def test_image_folder_loads_with_class_labels(tmp_path):
    write_image(tmp_path / "imgs" / "cat" / "a.png")
    write_image(tmp_path / "imgs" / "cat" / "b.JPG")
    write_image(tmp_path / "imgs" / "dog" / "c.bmp")
    (tmp_path / "imgs" / "dog" / "notes.txt").write_text("not an image")
    ds = load_raw(str(tmp_path / "imgs"))
    assert ds.column_names == ["image", "label"]
    assert ds["label"][:] == ["cat", "cat", "dog"]
    assert ds[2]["image"].size == (8, 6)


def test_flat_image_folder_asks_for_class_subfolders(tmp_path):
    write_image(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetError, match="one sub-folder per class"):
        load_raw(str(tmp_path / "flat"))


def test_table_with_relative_image_paths(tmp_path):
    rows = []
    for i in range(6):
        write_image(tmp_path / "pics" / f"{i}.png", colour=(i * 40, 0, 0))
        rows.append({"file": f"pics/{i}.png", "label": "red" if i % 2 else "dark"})
    pd.DataFrame(rows).to_csv(tmp_path / "images.csv", index=False)
    spec = spec_for(tmp_path / "images.csv", "image-classification", ColumnMap(image="file"))
    train, valid = load_splits(spec)
    assert len(train) + len(valid) == 6
    assert train[0]["file"].size == (8, 6)
    report = check_dataset(spec)
    assert report.label_counts == {"dark": 3, "red": 3} and report.duplicate_rows == 0


def test_load_images_resolves_against_base_dir(tmp_path):
    from datasets import Dataset

    write_image(tmp_path / "x.png")
    ds = load_images(Dataset.from_dict({"img": ["x.png"]}), "img", tmp_path)
    assert ds[0]["img"].size == (8, 6)


def test_hub_id_fails_offline_with_a_clear_message():
    with pytest.raises(DatasetError, match="could not load hub dataset someone/some-data"):
        load_raw("someone/some-data")


def test_misspelt_builtin_gets_a_hint():
    with pytest.raises(DatasetError, match="did you mean the built-in dataset 'rotten_tomatoes'"):
        load_raw("rotten_tomatos")


# ---- load errors -----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DatasetError, match=f"dataset file not found: {path}"):
        load_raw(str(path))


def test_unsupported_extension(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DatasetError, match="unsupported file type .xlsx"):
        load_raw(str(path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DatasetError, match="dataset file is empty"):
        check_dataset(spec_for(path))


def test_header_only_csv_has_no_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("text,label\n")
    with pytest.raises(DatasetError, match="has no rows"):
        check_dataset(spec_for(path))
    with pytest.raises(DatasetError, match="has no rows"):
        load_splits(spec_for(path))


def test_unparseable_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('text,label\n"ok",pos\nextra,fields,here,now\n')
    with pytest.raises(DatasetError, match=r"could not parse bad.csv: .*Expected 2 fields in line 3"):
        load_raw(str(path))


def test_unparseable_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[{"text": "a", "label": "x"},\n {"text": "b" "label": "y"}]')
    with pytest.raises(DatasetError, match="could not parse bad.json: Expecting ',' delimiter at line 2"):
        load_raw(str(path))


def test_unparseable_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n{"text": oops}\n')
    with pytest.raises(DatasetError, match="at line 3"):
        load_raw(str(path))


def test_json_scalars_are_not_records(tmp_path):
    path = tmp_path / "numbers.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(DatasetError, match="every row must be a JSON object"):
        load_raw(str(path))


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"this is not parquet at all")
    with pytest.raises(DatasetError, match="could not parse bad.parquet"):
        load_raw(str(path))


def test_non_utf8_text_names_file_and_offset(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ngood,pos\ncafé crème,neg\n".encode("latin-1"))
    with pytest.raises(DatasetError) as info:
        check_dataset(spec_for(path))
    message = str(info.value)
    assert str(path) in message and "not valid UTF-8" in message
    assert "byte 0xe9 at offset 23 (line 3)" in message


# ---- column and label checks -----------------------------------------------------------------


def _write_rows(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_misnamed_label_column_suggests_the_closest(tmp_path):
    path = _write_rows(tmp_path / "d.csv", ROWS)
    with pytest.raises(DatasetError) as info:
        check_dataset(spec_for(path, columns=ColumnMap(label="labl")))
    message = str(info.value)
    assert "label column 'labl' not found" in message
    assert "did you mean 'label'?" in message
    assert "Available columns: text, label" in message


def test_missing_text_column_in_load_splits(tmp_path):
    path = _write_rows(tmp_path / "d.csv", ROWS)
    with pytest.raises(DatasetError, match="text column 'review' not found.*Available columns: text, label"):
        load_splits(spec_for(path, columns=ColumnMap(text="review")))


def test_single_class_is_rejected(tmp_path):
    path = _write_rows(tmp_path / "d.csv", [{"text": f"t{i}", "label": "pos"} for i in range(5)])
    with pytest.raises(DatasetError, match="single class \\('pos'\\)"):
        check_dataset(spec_for(path))


def test_missing_labels_are_rejected(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\na,1\nb,\nc,0\n")
    with pytest.raises(DatasetError, match="1 empty value\\(s\\) \\(first at row 1\\)"):
        check_dataset(spec_for(path))


def test_image_that_does_not_open(tmp_path):
    write_image(tmp_path / "imgs" / "cat" / "ok.png")
    (tmp_path / "imgs" / "dog").mkdir()
    (tmp_path / "imgs" / "dog" / "broken.png").write_bytes(b"definitely not a png")
    with pytest.raises(
        DatasetError, match="1 image\\(s\\) in column 'image' do not open: row 1 \\(broken.png\\)"
    ):
        check_dataset(spec_for(tmp_path / "imgs", "image-classification"))


def test_image_path_that_does_not_exist(tmp_path):
    write_image(tmp_path / "a.png")
    _write_rows(tmp_path / "t.csv", [{"image": "a.png", "label": "x"}, {"image": "gone.png", "label": "y"}])
    with pytest.raises(DatasetError, match="row 1 \\(gone.png\\): file not found"):
        check_dataset(spec_for(tmp_path / "t.csv", "image-classification"))


@pytest.mark.parametrize(
    "second, message",
    [
        ([{"role": "user", "text": "hi"}], "must hold a list of \\{role, content\\} turns per row; row 1"),
        (
            "just a string",
            "column 'messages' mixes lists/objects with plain values \\(row 1 holds 'just a string'\\)",
        ),
    ],
)
def test_messages_must_be_role_content_lists(tmp_path, second, message):
    path = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": "hi"}]}, {"messages": second}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DatasetError, match=message):
        check_dataset(spec_for(path, "causal-lm", ColumnMap(messages="messages")))


def test_messages_as_plain_strings_are_rejected(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps({"messages": t}) for t in ("hi", "there")))
    with pytest.raises(DatasetError, match='row 0 holds "hi"'):
        check_dataset(spec_for(path, "causal-lm", ColumnMap(messages="messages")))


# ---- splits ----------------------------------------------------------------------------------


def test_stratified_split_keeps_label_shares_and_is_deterministic():
    spec = spec_for("rotten_tomatoes", validation_fraction=0.2)
    train, valid = load_splits(spec)
    assert len(train) + len(valid) == 12808
    assert abs(len(valid) - 0.2 * 12808) <= 1
    full_share = 7403 / 12808
    for part in (train, valid):
        share = Counter(part["label"][:])["fresh"] / len(part)
        assert abs(share - full_share) < 0.02
    again_train, again_valid = load_splits(spec)
    assert again_valid["text"][:] == valid["text"][:] and again_train["text"][:50] == train["text"][:50]
    spec.training.seed = 8
    assert load_splits(spec)[1]["text"][:] != valid["text"][:]


def test_split_indices_cover_every_row_once_and_keep_rare_classes():
    labels = ["a"] * 90 + ["b"] * 9 + ["c"]
    train, valid = split_indices(len(labels), 0.1, seed=0, labels=labels)
    assert sorted(train + valid) == list(range(100)) and len(valid) == 10
    counts = Counter(labels[i] for i in valid)
    assert counts["a"] == 9 and counts["b"] == 1 and counts["c"] == 0  # a single row stays in training


def test_image_digits_split_is_stratified():
    train, valid = load_splits(spec_for("digits", "image-classification", validation_fraction=0.2))
    assert len(train) + len(valid) == 1797
    shares = Counter(valid["label"][:])
    assert set(shares) == set(range(10))
    assert all(abs(c / len(valid) - 0.1) < 0.02 for c in shares.values())


def test_regression_labels_split_randomly(tmp_path):
    path = _write_rows(tmp_path / "r.csv", [{"text": f"t{i}", "label": i / 3} for i in range(30)])
    train, valid = load_splits(spec_for(path, validation_fraction=0.2))
    assert (len(train), len(valid)) == (24, 6)


def test_causal_lm_split_and_max_rows():
    spec = spec_for("chatterbot", "causal-lm", max_rows=100, validation_fraction=0.1)
    train, valid = load_splits(spec)
    assert (len(train), len(valid)) == (90, 10)
    assert load_splits(spec)[0]["prompt"][:] == train["prompt"][:]


def test_validation_source_is_used_as_is(tmp_path):
    train_path = _write_rows(tmp_path / "train.csv", ROWS)
    valid_path = _write_rows(tmp_path / "valid.csv", ROWS[:2])
    train, valid = load_splits(spec_for(train_path, validation_source=str(valid_path)))
    assert len(train) == 4 and valid.to_list() == ROWS[:2]
    with pytest.raises(DatasetError, match="label column 'label' not found in the validation set"):
        _write_rows(valid_path, [{"text": "x", "stars": 1}])
        load_splits(spec_for(train_path, validation_source=str(valid_path)))


# ---- report ----------------------------------------------------------------------------------


def test_report_counts_duplicates_empty_rows_and_truncation(tmp_path, minilm_tokenizer):
    long_text = " ".join(["wonderful"] * 60)
    rows = [
        {"text": "fine movie", "label": "pos"},
        {"text": "fine movie", "label": "pos"},  # duplicate
        {"text": "   ", "label": "neg"},  # empty
        {"text": long_text, "label": "pos"},
        {"text": long_text + " again", "label": "neg"},
        {"text": "bad", "label": "neg"},
        {"text": "ok", "label": "neg"},
        {"text": "meh", "label": "neg"},
        {"text": "great", "label": "pos"},
        {"text": "awful", "label": "neg"},
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    spec = spec_for(path)
    spec.training.max_length = 32
    report = check_dataset(spec, tokenizer=minilm_tokenizer)
    assert report.rows == 10 and report.columns == ["text", "label"]
    assert report.dtypes["text"] in ("string", "large_string")
    assert report.label_kind == "categorical" and report.label_counts == {"neg": 6, "pos": 4}
    assert report.duplicate_rows == 1 and report.empty_rows == 1
    lengths = [len(minilm_tokenizer(r["text"])["input_ids"]) for r in rows]
    assert report.token_lengths["max"] == max(lengths) == 63
    assert report.truncated_share == pytest.approx(0.2)
    assert report.to_dict()["truncated_share"] == pytest.approx(0.2)
    assert any("duplicate" in w for w in report.warnings)
    assert any("empty input text" in w for w in report.warnings)
    assert not any("will be cut" in w for w in report.warnings)  # 20% is not more than 20%
    spec.training.max_length = 3
    report = check_dataset(spec, tokenizer=minilm_tokenizer)
    assert (
        report.truncated_share == pytest.approx(sum(n > 3 for n in lengths) / 10)
        and report.truncated_share > 0.2
    )
    assert any("will be cut" in w for w in report.warnings)
    markdown = report.summary_markdown()
    assert "**10 rows**" in markdown and "neg: 6 (60.0%)" in markdown and "**Warnings**" in markdown


def test_report_label_kinds_and_imbalance(tmp_path):
    ints = _write_rows(tmp_path / "i.csv", [{"text": f"t{i}", "label": int(i < 2)} for i in range(30)])
    report = check_dataset(spec_for(ints))
    assert report.label_kind == "integer" and report.label_counts == {"0": 28, "1": 2}
    assert any("imbalanced 14:1" in w for w in report.warnings)
    floats = _write_rows(tmp_path / "f.csv", [{"text": f"t{i}", "label": i / 4} for i in range(30)])
    report = check_dataset(spec_for(floats))
    assert report.label_kind == "regression" and report.label_counts == {}
    assert report.label_stats["max"] == pytest.approx(29 / 4)


def test_causal_lm_report_uses_the_chat_template(tmp_path, minilm_tokenizer):
    path = tmp_path / "chat.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]},
        {"messages": []},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    spec = spec_for(path, "causal-lm", ColumnMap(messages="messages"))
    report = check_dataset(spec, tokenizer=minilm_tokenizer)  # no chat template: turns joined
    assert report.duplicate_rows == 1 and report.empty_rows == 1
    assert report.token_lengths["max"] == len(minilm_tokenizer("hi\nhello there")["input_ids"])


def test_builtin_reports(minilm_tokenizer):
    report = check_dataset(spec_for("rotten_tomatoes"), tokenizer=minilm_tokenizer)
    assert report.label_counts == {"fresh": 7403, "rotten": 5405}
    assert report.truncated_share == 0.0 and report.token_lengths["p50"] > 5
    digits = check_dataset(spec_for("digits", "image-classification"))
    assert digits.label_kind == "integer" and len(digits.label_counts) == 10 and digits.rows == 1797
    chat = check_dataset(spec_for("chatterbot", "causal-lm"))
    assert chat.rows > 800 and chat.empty_rows == 0 and chat.duplicate_rows == 0


# ---- preview and suggestions -----------------------------------------------------------------


def test_preview_is_json_safe():
    rows = preview(load_raw("digits"), n=3)
    assert rows[0] == {"image": "<image 32x32>", "label": 0} and len(rows) == 3
    from datasets import Dataset

    ds = Dataset.from_dict(
        {"text": ["x" * 500], "score": [float("nan")], "turns": [[{"role": "u", "content": "c"}]]}
    )
    (row,) = preview(ds)
    assert len(row["text"]) == 200 and row["text"].endswith("…")
    assert row["score"] is None and row["turns"] == [{"role": "u", "content": "c"}]
    json.dumps(row)


@pytest.mark.parametrize(
    "columns, task, mapping",
    [
        (["review", "Label"], "classification", {"text": "review", "label": "Label"}),
        (
            ["sentence1", "sentence2", "label"],
            "classification",
            {"text": "sentence1", "text_pair": "sentence2", "label": "label"},
        ),
        (["instruction", "output"], "causal-lm", {"prompt": "instruction", "response": "output"}),
        (["id", "messages"], "causal-lm", {"messages": "messages"}),
        (["img_path", "class"], "image-classification", {"image": "img_path", "label": "class"}),
        (["a", "b"], None, {}),
    ],
)
def test_suggestions(columns, task, mapping):
    assert suggest_task(columns) == task
    if task:
        assert suggest_columns(columns, task) == mapping


def test_few_rows_are_warned_about_below_twenty(tmp_path):
    def warnings(n: int) -> list[str]:
        rows = [{"text": f"text number {i}", "label": i % 2} for i in range(n)]
        return check_dataset(spec_for(_write_rows(tmp_path / f"{n}.csv", rows))).warnings

    assert any("only 10 rows" in w for w in warnings(10))
    assert any("only 19 rows" in w for w in warnings(19))
    assert not any("rows: too few" in w for w in warnings(20))
