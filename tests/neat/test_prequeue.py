"""The pre-queue check (neat/engine/prequeue.py) on tiny real models and real files: every way a run
would fail late or train something else than asked is refused before anything is queued."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neat.engine.prequeue import check_run
from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec
from tests.tiny_runs import (
    chat_jsonl,
    classification_spec,
    sentiment_csv,
    tiny_bert_folder,
    tiny_llama_folder,
)


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    return tiny_bert_folder(tmp_path_factory.mktemp("m") / "bert")


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return tiny_llama_folder(tmp_path_factory.mktemp("m") / "llama")


@pytest.fixture
def csv(tmp_path) -> Path:
    return sentiment_csv(tmp_path / "reviews.csv", rows=40)


def _fields(result) -> dict[str, str]:
    return {e.field: e.message for e in result.errors}


def test_a_good_spec_passes(bert, csv):
    spec = classification_spec(bert, csv, max_length=64)
    spec.method.target_modules = ["query", "value"]
    result = check_run(spec)
    assert result.ok, result.errors
    assert result.report.rows == 40


def test_a_target_module_typo_names_the_missing_and_lists_the_real(bert, csv):
    spec = classification_spec(bert, csv)
    spec.method.target_modules = ["query", "valeu"]
    message = _fields(check_run(spec))["method.target_modules"]
    assert "'valeu'" in message and "'query'" not in message.split(";")[0]
    assert "attention.self.value" in message and "intermediate.dense" in message


def test_max_length_beyond_the_models_positions(bert, csv):
    spec = classification_spec(bert, csv, max_length=1_000_000)
    message = _fields(check_run(spec))["training.max_length"]
    assert "1,000,000" in message and "128" in message


def test_model_folder_without_config_and_with_a_broken_config(tmp_path, csv):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no config.json" in _fields(check_run(classification_spec(empty, csv)))["model.name_or_path"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    assert (
        "could not read its config"
        in _fields(check_run(classification_spec(broken, csv)))["model.name_or_path"]
    )


def test_the_engine_says_the_same_about_a_folder_without_config(tmp_path, csv):
    from neat.engine.errors import ModelLoadError
    from neat.engine.loading import load_processor

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="holds no config.json"):
        load_processor(classification_spec(empty, csv))


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_label_column_equal_to_text_column(bert, csv):
    spec = classification_spec(bert, csv)
    spec.dataset.columns = ColumnMap(text="text", label="text")
    assert "also the text column" in _fields(check_run(spec))["dataset.source"]


def test_classes_with_a_single_example_are_refused(bert, tmp_path):
    rows = [f"good film {i},pos" for i in range(10)] + [f"bad film {i},neg" for i in range(10)] + ["odd,typo"]
    message = _fields(check_run(classification_spec(bert, _csv(tmp_path / "t.csv", "text,label", rows))))
    assert "single example ('typo')" in message["dataset.source"]


def test_labels_of_mixed_kinds_name_both(bert, tmp_path):
    rows = [f"film {i},{v}" for i, v in enumerate(["1", "0", "pos", "neg"] * 5)]
    message = _fields(check_run(classification_spec(bert, _csv(tmp_path / "t.csv", "text,label", rows))))
    assert (
        "integers (0, 1)" in message["dataset.source"] and "text ('neg', 'pos')" in message["dataset.source"]
    )


def test_nested_columns_are_refused_with_their_type(bert, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"text": [["a", "b"], ["c"]] * 10, "label": ["x", "y"] * 10})
    pq.write_table(table, tmp_path / "nested.parquet")
    message = _fields(check_run(classification_spec(bert, tmp_path / "nested.parquet")))["dataset.source"]
    assert "'text' holds nested values (list of string)" in message


def _chat_spec(model: Path, data: Path, **training) -> RunSpec:
    return RunSpec(
        name="chat",
        task="causal-lm",
        model=ModelSpec(str(model)),
        dataset=DataSpec(str(data), ColumnMap(prompt="prompt", response="response")),
        method=MethodSpec("neat", r=4, target_modules=["q_proj", "v_proj"]),
        training=TrainingSpec(max_steps=2, batch_size=4, **training),
    )


def _chat_file(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in pairs))
    return path


def test_empty_responses_all_error_some_warn(llama, tmp_path):
    all_empty = _chat_file(tmp_path / "a.jsonl", [(f"hi {i}", "") for i in range(10)])
    assert "every response" in _fields(check_run(_chat_spec(llama, all_empty)))["dataset.source"]
    some = _chat_file(tmp_path / "b.jsonl", [(f"hi {i}", "" if i < 3 else "hello") for i in range(10)])
    result = check_run(_chat_spec(llama, some))
    assert result.ok, result.errors
    assert any("3 of 10 row(s) have an empty response" in w for w in result.warnings)


def test_chat_template_must_leave_room_for_responses(llama, tmp_path):
    data = chat_jsonl(tmp_path / "chat.jsonl", rows=12)
    message = _fields(check_run(_chat_spec(llama, data, max_length=3)))["training.max_length"]
    assert "chat template alone takes" in message
    long_prompts = _chat_file(
        tmp_path / "long.jsonl",
        [(" ".join(["word"] * (40 if i < 4 else 2)), "fine answer") for i in range(12)],
    )
    result = check_run(_chat_spec(llama, long_prompts, max_length=24))
    assert result.ok, result.errors
    assert any("(4 of 12 checked) have no response token" in w for w in result.warnings)
    every = _chat_file(tmp_path / "every.jsonl", [(" ".join(["word"] * 40), "answer")] * 12)
    assert (
        "no response token fits"
        in _fields(check_run(_chat_spec(llama, every, max_length=24)))["training.max_length"]
    )


def test_neat_train_check_runs_it(bert, csv, tmp_path, capsys):
    from neat.engine.train import main

    spec = classification_spec(bert, csv)
    spec.method.target_modules = ["qeury"]
    spec.save(tmp_path / "run.yaml")
    assert main([str(tmp_path / "run.yaml"), "--check"]) == 2
    assert "'qeury'" in capsys.readouterr().err
    spec.method.target_modules = ["query"]
    spec.save(tmp_path / "run.yaml")
    assert main([str(tmp_path / "run.yaml"), "--check"]) == 0
    assert "40 rows" in capsys.readouterr().out


def test_neat_on_a_narrowing_layer_warns_with_its_shape(llama, tmp_path):
    data = _chat_file(tmp_path / "c.jsonl", [(f"hi {i}", "hello there") for i in range(10)])

    def narrowing(spec):
        result = check_run(spec)
        assert result.ok, result.errors
        return [w for w in result.warnings if w.startswith("NEAT on ")]

    # grouped-query attention: v_proj maps 32 features to 16 (2 of 4 heads), q_proj keeps 32
    (warning,) = narrowing(_chat_spec(llama, data))
    assert warning.startswith("NEAT on v_proj (32 -> 16 features)") and "other 16 input directions" in warning
    defaults = _chat_spec(llama, data)
    defaults.method.target_modules = None  # the architecture's defaults: q_proj, v_proj
    assert narrowing(defaults) == [warning]
    square = _chat_spec(llama, data)
    square.method.target_modules = ["q_proj", "o_proj", "up_proj"]
    assert narrowing(square) == []
    lora = _chat_spec(llama, data)
    lora.method.name = "lora"
    assert narrowing(lora) == []
