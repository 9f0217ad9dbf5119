"""Scoring finished tiny runs: the test split after training, labelled files, batch prediction, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neat.engine.errors import DatasetError, UserError
from neat.engine.evaluate import evaluate_run, parse_columns
from neat.engine.holdout import load_test_split
from neat.engine.rundir import RunDir
from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec, example_spec
from neat.engine.train import run
from tests.tiny_runs import classification_spec, sentiment_csv, tiny_bert_folder, tiny_llama_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"bert": tiny_bert_folder(root / "bert"), "llama": tiny_llama_folder(root / "llama")}


@pytest.fixture(scope="module")
def class_run(tmp_path_factory, models):
    root = tmp_path_factory.mktemp("class_run")
    spec = classification_spec(
        models["bert"], sentiment_csv(root / "reviews.csv"), max_steps=20, eval_steps=10
    )
    spec.dataset.test_fraction = 0.2
    summary = run(spec, root / "run")
    return root / "run", summary


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory, models):
    root = tmp_path_factory.mktemp("pair_run")
    path = root / "pairs.tsv"
    rows = ["premise\thypothesis\tlabel"] + [
        f"a cat {i}\ta {'cat' if i % 3 else 'dog'} {i}\t{i % 3}" for i in range(45)
    ]
    path.write_text("\n".join(rows), encoding="utf-8")
    spec = classification_spec(models["bert"], path, max_steps=4, eval_steps=4)
    spec.dataset.columns = ColumnMap(text="premise", text_pair="hypothesis", label="label")
    run(spec, root / "run")
    return root / "run", path


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory, models):
    root = tmp_path_factory.mktemp("regression_run")
    path = root / "scores.csv"
    path.write_text(
        "text,score\n" + "\n".join(f"item {i} is {'good ' * (i % 3)},{(i % 5) / 4 + 0.1}" for i in range(40))
    )
    spec = classification_spec(models["bert"], path, max_steps=4, eval_steps=4)
    spec.dataset.columns = ColumnMap(text="text", label="score")
    run(spec, root / "run")
    return root / "run", path


def _chat_rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {"prompt": f"say hello {i}", "response": f"hello there friend {i}"} for i in range(offset, offset + n)
    ]


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory, models):
    root = tmp_path_factory.mktemp("chat_run")
    data = root / "chat.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _chat_rows(24)), encoding="utf-8")
    spec = RunSpec(
        name="tiny-chat",
        task="causal-lm",
        model=ModelSpec(str(models["llama"])),
        dataset=DataSpec(str(data), ColumnMap(prompt="prompt", response="response"), test_fraction=0.25),
        method=MethodSpec("neat", r=4, target_modules=["q_proj", "v_proj"]),
        training=TrainingSpec(max_steps=6, batch_size=8, eval_steps=6, logging_steps=2, learning_rate=2e-2),
    )
    summary = run(spec, root / "run")
    return root / "run", summary


@pytest.fixture(scope="module")
def image_run(tmp_path_factory, embedded_cache_home):
    root = tmp_path_factory.mktemp("image_run")
    spec = example_spec("image")
    spec.dataset.max_rows = 80
    spec.dataset.test_fraction = 0.02
    spec.training = TrainingSpec(max_steps=2, batch_size=16, eval_steps=2, logging_steps=1)
    summary = run(spec, root / "run")
    return root / "run", summary


def _accuracy_from_csv(frame: pd.DataFrame) -> float:
    return float((frame["label"].astype(str) == frame["prediction"].astype(str)).mean())


def _check_classification(metrics: dict, frame: pd.DataFrame, rows: int) -> None:
    assert metrics["labelled"] is True and metrics["n"] == rows == len(frame)
    assert {"accuracy", "macro_f1", "labels", "per_class", "confusion_matrix"} <= set(metrics)
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (len(metrics["labels"]),) * 2 and matrix.sum() == rows
    assert matrix.trace() / rows == pytest.approx(metrics["accuracy"])
    assert sum(c["support"] for c in metrics["per_class"].values()) == rows
    assert metrics["accuracy"] == pytest.approx(_accuracy_from_csv(frame))
    probabilities = frame[[c for c in frame.columns if c.startswith("p:")]]
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(probabilities.max(axis=1), frame["confidence"], atol=1e-6)


# -- after training ------------------------------------------------------------------------------
def test_training_scores_the_kept_checkpoint_on_the_test_split(class_run, tmp_path):
    out, summary = class_run
    folder = RunDir(out)
    test = load_test_split(folder.test_split)
    assert len(test) == round(96 * 0.2)
    metrics = folder.read_test_metrics()
    frame = pd.read_csv(folder.predictions_path)
    _check_classification(metrics, frame, len(test))
    assert metrics["data"] == "the run's test split" and metrics["labels"] == ["negative", "positive"]
    assert frame["text"].tolist() == test["text"][:]
    # summary.json carries the flat metrics and n, the same numbers as test_metrics.json
    on_disk = json.loads(folder.summary_file.read_text())
    assert on_disk["test_metrics"] == summary["test_metrics"]
    assert on_disk["rows"]["test"] == len(test) and on_disk["rows"]["validation"] > 0
    assert summary["test_metrics"] == {
        "n": len(test),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
    }
    # the saved adapter, loaded again, scores the same: what was scored is what was kept
    again = evaluate_run(out, output_dir=tmp_path / "again")
    assert again["accuracy"] == metrics["accuracy"]
    rescored = pd.read_csv(tmp_path / "again" / "predictions.csv")
    assert np.allclose(rescored["p:positive"], frame["p:positive"], atol=1e-3)


def test_training_log_says_it_scores_the_test_split(tmp_path, models):
    from tests.tiny_runs import Recorder

    spec = classification_spec(
        models["bert"], sentiment_csv(tmp_path / "r.csv", rows=40), max_steps=2, eval_steps=2
    )
    spec.dataset.test_fraction = 0.1
    recorder = Recorder()
    run(spec, tmp_path / "run", [recorder])
    messages = [e["text"] for e in recorder.events if e["kind"] == "message"]
    assert any(m.startswith("scoring the test split with the kept checkpoint (4 rows)") for m in messages)
    assert any(m.startswith("data: ") and m.endswith(", 4 test rows") for m in messages)


# -- classification --------------------------------------------------------------------------------
def test_labelled_file_with_other_column_names(class_run, tmp_path):
    out, _ = class_run
    rows = [
        (f"{'good great' if i % 2 else 'bad awful'} movie {i}", "positive" if i % 2 else "negative")
        for i in range(15)
    ]
    pd.DataFrame(rows, columns=["review", "sentiment"]).to_csv(tmp_path / "new.csv", index=False)
    seen = []
    metrics = evaluate_run(
        out,
        data=tmp_path / "new.csv",
        columns={"text": "review", "label": "sentiment"},
        output_dir=tmp_path / "eval",
        batch_size=4,
        progress=lambda done, total: seen.append((done, total)),
    )
    frame = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    _check_classification(metrics, frame, 15)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics
    assert metrics["data"] == "new.csv" and metrics["kind"] == "classification"
    assert seen == [(4, 15), (8, 15), (12, 15), (15, 15)]  # one call per batch


def test_unlabelled_file_gives_predictions_only(class_run, tmp_path):
    out, _ = class_run
    pd.DataFrame({"text": ["good great film", "bad awful film", "fine"]}).to_csv(
        tmp_path / "u.csv", index=False
    )
    metrics = evaluate_run(out, data=tmp_path / "u.csv", output_dir=tmp_path / "eval")
    assert metrics == {
        "task": "classification",
        "data": "u.csv",
        "kind": "classification",
        "n": 3,
        "labelled": False,
    }
    frame = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert list(frame.columns) == ["text", "prediction", "confidence", "p:negative", "p:positive"]
    assert len(frame) == 3 and set(frame["prediction"]) <= {"negative", "positive"}


def test_text_pairs_batched_scores_match_the_playground(pair_run, tmp_path):
    from neat.engine.inference import Predictor

    out, path = pair_run
    metrics = evaluate_run(out, data=path, output_dir=tmp_path / "eval", batch_size=7)
    frame = pd.read_csv(tmp_path / "eval" / "predictions.csv", dtype={"label": str, "prediction": str})
    _check_classification(metrics, frame, 45)
    assert metrics["labels"] == ["0", "1", "2"]
    assert list(frame.columns[:3]) == ["text", "text_pair", "label"]
    # padding in a batch changes nothing: each row scores as the Playground scores it alone
    predictor = Predictor.load(out, device="cpu")
    for i in (0, 5, 44):
        alone = predictor.classify(frame["text"][i], frame["text_pair"][i])
        assert alone["1"] == pytest.approx(frame["p:1"][i], abs=1e-4)


def test_missing_column_names_it_and_lists_the_real_ones(class_run, tmp_path):
    out, _ = class_run
    pd.DataFrame({"review": ["x"], "stars": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(
        DatasetError, match=r"text column 'text' not found .*Available columns: review, stars"
    ):
        evaluate_run(out, data=tmp_path / "bad.csv", output_dir=tmp_path / "eval")
    with pytest.raises(UserError, match="unknown column role"):
        evaluate_run(out, data=tmp_path / "bad.csv", columns={"txt": "review"})
    with pytest.raises(UserError, match="batch size"):
        evaluate_run(out, data=tmp_path / "bad.csv", batch_size=0)


def test_a_run_without_a_test_split_asks_for_data(pair_run):
    out, _ = pair_run
    with pytest.raises(DatasetError, match="no saved test split"):
        evaluate_run(out)


# -- regression ----------------------------------------------------------------------------------
def test_regression_labelled_and_unlabelled(regression_run, tmp_path):
    out, path = regression_run
    metrics = evaluate_run(out, data=path, output_dir=tmp_path / "eval", columns={"label": "score"})
    frame = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert metrics["kind"] == "regression" and metrics["n"] == len(frame) == 40
    assert list(frame.columns) == ["text", "label", "prediction"]
    errors = frame["prediction"] - frame["label"]
    assert metrics["mse"] == pytest.approx(float((errors**2).mean()), rel=1e-4)
    assert metrics["mae"] == pytest.approx(float(errors.abs().mean()), rel=1e-4)
    assert metrics["pearson"] == pytest.approx(
        float(np.corrcoef(frame["prediction"], frame["label"])[0, 1]), abs=1e-3
    )
    assert -1 <= metrics["spearman"] <= 1
    pd.DataFrame({"text": ["item 1 is good", "item 2"]}).to_csv(tmp_path / "u.csv", index=False)
    unlabelled = evaluate_run(out, data=tmp_path / "u.csv", output_dir=tmp_path / "u")
    assert unlabelled["labelled"] is False and "mse" not in unlabelled
    assert list(pd.read_csv(tmp_path / "u" / "predictions.csv").columns) == ["text", "prediction"]


# -- causal LM / chat ------------------------------------------------------------------------------
def test_chat_run_test_split_and_labelled_file(chat_run, tmp_path):
    from neat.engine.inference import Predictor

    out, summary = chat_run
    test = RunDir(out).read_test_metrics()
    assert test["kind"] == "causal_lm" and test["n"] == 6 and test["tokens"] > 0
    assert summary["test_metrics"]["perplexity"] == pytest.approx(math.exp(test["loss"]))
    path = tmp_path / "new.jsonl"
    rows = _chat_rows(5, offset=100)
    for i, row in enumerate(rows):  # prompts of different lengths, so the batch needs padding
        row["prompt"] += " please" * (i % 3)
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    metrics = evaluate_run(out, data=path, output_dir=tmp_path / "eval", batch_size=2, max_new_tokens=6)
    frame = pd.read_csv(tmp_path / "eval" / "predictions.csv", keep_default_na=False)
    assert list(frame.columns) == ["prompt", "reference", "base_answer", "adapted_answer", "loss"]
    assert len(frame) == metrics["n"] == 5 and frame["prompt"][0] == "say hello 100"
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]))
    assert (frame["loss"].astype(float) > 0).all()
    # the batch loss is the token-weighted mean of the rows' losses (rows have equal token counts here)
    assert metrics["loss"] == pytest.approx(frame["loss"].astype(float).mean(), rel=1e-4)
    # batched greedy generation (left-padded) answers as the Playground does one prompt at a time
    predictor = Predictor.load(out, device="cpu")
    for i in (0, 1, 2):
        for use_adapter, column in ((False, "base_answer"), (True, "adapted_answer")):
            alone = list(
                predictor.chat_stream(frame["prompt"][i], use_adapter, max_new_tokens=6, temperature=0)
            )
            assert alone[-1].strip() == frame[column][i].strip()


def test_chat_prompts_only_are_batch_prediction(chat_run, tmp_path):
    out, _ = chat_run
    path = tmp_path / "prompts.csv"
    pd.DataFrame({"question": ["say hello 7", "say hello 8", "say hello 9"]}).to_csv(path, index=False)
    metrics = evaluate_run(
        out, data=path, columns={"prompt": "question"}, output_dir=tmp_path / "eval", max_new_tokens=4
    )
    assert metrics["labelled"] is False and metrics["n"] == 3 and "loss" not in metrics
    frame = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert list(frame.columns) == ["prompt", "base_answer", "adapted_answer"] and len(frame) == 3


# -- images --------------------------------------------------------------------------------------
def test_image_run_scores_its_test_split_with_thumbnails(image_run):
    out, summary = image_run
    folder = RunDir(out)
    metrics = folder.read_test_metrics()
    frame = pd.read_csv(folder.predictions_path, dtype={"label": str, "prediction": str})
    _check_classification(metrics, frame, 36)  # 2% of the 1797 digits, carved before max_rows
    assert summary["test_metrics"]["n"] == 36
    assert all((out / name).is_file() for name in frame["image"])  # digits are stored in the data


def test_image_folder_and_unlabelled_image_table(image_run, tmp_path):
    from neat.engine.assets import builtin_dataset

    out, _ = image_run
    digits = builtin_dataset("digits")
    for i in range(6):
        row = digits[i]
        folder = tmp_path / "folder" / str(row["label"])
        folder.mkdir(parents=True, exist_ok=True)
        row["image"].save(folder / f"{i}.png")
    metrics = evaluate_run(out, data=tmp_path / "folder", output_dir=tmp_path / "eval")
    frame = pd.read_csv(tmp_path / "eval" / "predictions.csv", dtype={"label": str, "prediction": str})
    _check_classification(metrics, frame, 6)
    assert all(Path(name).is_file() for name in frame["image"])
    # a table of image paths (relative to the table) without labels
    pd.DataFrame({"picture": [f"folder/{digits[i]['label']}/{i}.png" for i in range(3)]}).to_csv(
        tmp_path / "pictures.csv", index=False
    )
    unlabelled = evaluate_run(
        out, data=tmp_path / "pictures.csv", columns={"image": "picture"}, output_dir=tmp_path / "u"
    )
    assert unlabelled["labelled"] is False and unlabelled["n"] == 3
    frame = pd.read_csv(tmp_path / "u" / "predictions.csv")
    assert "label" not in frame and len(frame) == 3
    assert np.allclose(frame[[f"p:{d}" for d in range(10)]].sum(axis=1), 1.0, atol=1e-5)


# -- command line --------------------------------------------------------------------------------
def test_cli_scores_a_file_and_reports_user_errors(class_run, tmp_path, capsys):
    from neat.evaluate.__main__ import main

    out, _ = class_run
    pd.DataFrame(
        {"review": ["good great film", "bad awful film"], "sentiment": ["positive", "negative"]}
    ).to_csv(tmp_path / "new.csv", index=False)
    code = main([str(out), "--data", str(tmp_path / "missing.csv"), "--output", str(tmp_path / "x")])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and error[0].startswith("error: dataset file not found")
    assert main([str(out), "--data", str(tmp_path / "new.csv"), "--columns", "text=review,label"]) == 2
    assert "is not ROLE=COLUMN" in capsys.readouterr().err
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "neat.evaluate",
            str(out),
            "--data",
            str(tmp_path / "new.csv"),
            "--columns",
            "text=review,label=sentiment",
            "--output",
            str(tmp_path / "cli"),
            "--batch-size",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert metrics["n"] == 2 and len(pd.read_csv(tmp_path / "cli" / "predictions.csv")) == 2
    assert "scoring" in result.stderr  # the progress bar


def test_parse_columns():
    assert parse_columns("text=review, label=stars") == {"text": "review", "label": "stars"}
    assert parse_columns("") == {}
    with pytest.raises(UserError, match="unknown role"):
        parse_columns("words=review")


def test_chat_messages_file_scores_the_last_answer(chat_run, tmp_path):
    out, _ = chat_run
    chats = [
        [
            {"role": "user", "content": "say hello 1"},
            {"role": "assistant", "content": "hello there friend 1"},
            {"role": "user", "content": f"say hello {i}"},
            {"role": "assistant", "content": f"hello there friend {i}"},
        ]
        for i in (2, 3)
    ]
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join(json.dumps({"turns": chat}) for chat in chats), encoding="utf-8")
    metrics = evaluate_run(
        out, data=path, columns={"messages": "turns"}, output_dir=tmp_path / "eval", max_new_tokens=3
    )
    frame = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert metrics["labelled"] is True and metrics["n"] == 2 and metrics["tokens"] > 0
    assert frame["reference"].tolist() == ["hello there friend 2", "hello there friend 3"]
    assert frame["prompt"][0] == "user: say hello 1\nassistant: hello there friend 1\nuser: say hello 2"
