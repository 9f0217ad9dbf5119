"""The Train tab's dataset check on a real model and real files: the mistakes a newcomer makes
(the text column as labels, a chat task on a classification file) get a clear error and no ✓,
truncation is measured with the model's own tokenizer, and the one-time model preparation is
said and counted."""

from __future__ import annotations

import pandas as pd

from app.tabs.train import assistants, form
from app.tabs.train.prepare import preparing


def _values(tiny_model, data_path, **extra):
    return {
        **form.FORM_DEFAULTS,
        "model_kind": form.MODEL_OTHER,
        "model_path": str(tiny_model),
        "data_kind": form.DATA_UPLOAD,
        "data_upload": str(data_path),
        "col_text": "review",
        "col_label": "sentiment",
        **extra,
    }


def _reviews(tmp_path, n=200, words=6):
    path = tmp_path / "reviews.csv"
    rows = [
        {"review": " ".join([f"film {i} was"] + ["good"] * words), "sentiment": ("pos", "neg")[i % 2]}
        for i in range(n)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_the_text_column_as_labels_is_an_error_and_no_check_mark(tiny_model, tmp_path):
    path = _reviews(tmp_path)
    report, errors = assistants.check_data(
        _values(tiny_model, path, col_text="sentiment", col_label="review")
    )
    assert report is None and [e.field for e in errors] == ["dataset.source"]
    assert "label column 'review' looks like a text column" in errors[0].message
    assert "200 distinct values in 200 rows" in errors[0].message
    assert assistants.report_markdown(report) == ""  # no ✓, no "200 classes"


def test_chat_task_on_a_classification_file_names_missing_and_real_columns(tiny_model, tmp_path):
    path = _reviews(tmp_path)
    values = _values(tiny_model, path, task="causal-lm")
    summary = assistants.dataset_summary(values)
    values.update(assistants.mapped_columns(values, summary["columns"], summary["suggest"]))
    report, errors = assistants.check_data(values)
    assert report is None
    message = errors[0].message
    assert "prompt column 'prompt' not found" in message and "response column 'response' not found" in message
    assert "Available columns: review, sentiment" in message


def test_truncation_is_measured_with_the_models_tokenizer(tiny_model, tmp_path):
    path = _reviews(tmp_path, words=40)  # ~45 tokens a row
    report, errors = assistants.check_data(_values(tiny_model, path, max_length=16))
    assert errors == [] and report.truncated_share == 1.0
    markdown = assistants.report_markdown(report)
    assert "100% of rows are longer than max_length 16 tokens and will be cut" in markdown
    assert "⚠ 1 warning" in markdown and "✓" not in markdown
    # max_length is part of what the check depends on: a roomy one cuts nothing, and passes
    report, _ = assistants.check_data(_values(tiny_model, path, max_length=128))
    markdown = assistants.report_markdown(report)
    assert report.truncated_share == 0 and "no row is longer than max_length 128 tokens" in markdown
    assert markdown.startswith("**Dataset check** ✓")


def test_the_first_use_preparation_is_said_then_counted(neat_home):
    lines = list(preparing("embedded:vit-tiny", poll_seconds=0.05))
    assert lines and lines[0].startswith("⏳ Preparing the tiny ViT for first use (one time, about 2 s)")
    assert (neat_home / "models" / "vit-tiny").is_dir()  # prepared by the time the lines end
    assert list(preparing("embedded:vit-tiny")) == []  # ready: nothing to say
    assert list(preparing("embedded:minilm")) == []  # ships ready


def test_smollm2_says_what_its_first_use_costs(neat_home):
    from app import backend

    name, what, seconds = backend.first_use_preparation("embedded:smollm2")  # not converted in a fresh home
    assert (name, seconds) == ("SmolLM2", 20) and "517 MB GGUF" in what


class _Messages:
    def __init__(self):
        self.lines: list[str] = []

    def on_event(self, event):
        if event["kind"] == "message":
            self.lines.append(event["text"])

    def should_stop(self):
        return False


def test_the_job_log_reports_the_same_truncation_as_the_check(tiny_model, tmp_path, neat_home):
    from neat.engine.train import run

    path = _reviews(tmp_path, n=40, words=12)
    values = _values(tiny_model, path, max_length=12, max_steps=1, batch_size=8, eval_steps=1)
    report, errors = assistants.check_data(values)
    assert errors == [] and 0 < report.truncated_share
    messages = _Messages()
    run(form.validate_form(values)[0], tmp_path / "run", [messages])
    assert f"dataset check: {report.truncation_sentence()}" in messages.lines
