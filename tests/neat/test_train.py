"""The training engine end to end on tiny models: each task, outputs, stop/resume, errors, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from peft import PeftModel
from transformers import AutoModelForSequenceClassification

from neat.engine.errors import DatasetError, SpecError, TrainingStopped
from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec, example_spec
from neat.engine.train import run
from tests.tiny_runs import (
    Recorder,
    chat_jsonl,
    classification_spec,
    sentiment_csv,
    tiny_bert_folder,
    tiny_llama_folder,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return tiny_bert_folder(tmp_path_factory.mktemp("models") / "bert")


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return tiny_llama_folder(tmp_path_factory.mktemp("models") / "llama")


@pytest.fixture
def csv(tmp_path):
    return sentiment_csv(tmp_path / "reviews.csv")


def test_classification_run_writes_every_output_and_learns(tmp_path, bert_dir, csv):
    spec = classification_spec(bert_dir, csv, max_steps=60, eval_steps=20)
    recorder = Recorder()
    summary = run(spec, tmp_path / "run", [recorder])
    out = tmp_path / "run"
    for name in ("adapter/adapter_config.json", "metrics.jsonl", "summary.json", "spec.yaml", "labels.json"):
        assert (out / name).exists(), name
    assert list((out / "checkpoints").glob("checkpoint-*"))
    assert json.loads((out / "labels.json").read_text()) == {"labels": ["negative", "positive"]}
    assert RunSpec.load(out / "spec.yaml") == spec
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["trainable_parameters"] == summary["trainable_parameters"] > 0
    assert set(on_disk["versions"]) >= {"torch", "transformers", "peft"}
    assert on_disk["spec"]["method"]["name"] == "neat"
    # loss goes down and the separable toy task is learned
    losses = recorder.points("train", "loss")
    first, last = list(losses.values())[:5], list(losses.values())[-5:]
    assert sum(last) / 5 < sum(first) / 5
    assert summary["eval"]["eval_accuracy"] >= 0.9
    # every log event is in metrics.jsonl, one line each
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == sum(1 for e in recorder.events if e["kind"] == "log")
    assert {line["split"] for line in lines} == {"train", "eval", "final"}
    progress = [e["progress"] for e in recorder.events if e["kind"] == "log"]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_saved_adapter_loads_with_plain_peft(tmp_path, bert_dir, csv):
    run(classification_spec(bert_dir, csv, max_steps=10), tmp_path / "run")
    base = AutoModelForSequenceClassification.from_pretrained(bert_dir, num_labels=2)
    model = PeftModel.from_pretrained(base, tmp_path / "run" / "adapter")
    assert any("peanut_A" in name for name, _ in model.named_parameters())


def test_text_pair_integer_labels_and_lora(tmp_path, bert_dir):
    path = tmp_path / "pairs.tsv"
    rows = ["premise\thypothesis\tlabel"] + [
        f"a cat {i}\ta {'cat' if i % 3 else 'dog'} {i}\t{i % 3}" for i in range(60)
    ]
    path.write_text("\n".join(rows), encoding="utf-8")
    spec = classification_spec(bert_dir, path, max_steps=6, eval_steps=3)
    spec.dataset.columns = ColumnMap(text="premise", text_pair="hypothesis", label="label")
    spec.method = MethodSpec("lora", r=4)
    summary = run(spec, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "labels.json").read_text()) == {"labels": ["0", "1", "2"]}
    assert {"eval_accuracy", "eval_macro_f1"} <= set(summary["eval"])


def test_float_labels_mean_regression(tmp_path, bert_dir):
    path = tmp_path / "scores.csv"
    path.write_text(
        "text,score\n" + "\n".join(f"item {i} is {'good' * (i % 3)},{(i % 5) / 4 + 0.1}" for i in range(60))
    )
    spec = classification_spec(bert_dir, path, max_steps=6, eval_steps=3)
    spec.dataset.columns = ColumnMap(text="text", label="score")
    summary = run(spec, tmp_path / "run")
    assert {"eval_pearson", "eval_spearman", "eval_mse"} <= set(summary["eval"])
    assert json.loads((tmp_path / "run" / "labels.json").read_text()) == {"regression": True}


def test_metric_for_best_mse_keeps_the_lowest_error(tmp_path, bert_dir):
    path = tmp_path / "scores.csv"
    path.write_text(
        "text,score\n" + "\n".join(f"item {i} is {'good' * (i % 3)},{(i % 5) / 4 + 0.1}" for i in range(60))
    )
    spec = classification_spec(bert_dir, path, max_steps=12, eval_steps=3)
    spec.dataset.columns = ColumnMap(text="text", label="score")
    spec.training.metric_for_best = "mse"
    summary = run(spec, tmp_path / "run")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    errors = [p["metrics"]["mse"] for p in map(json.loads, lines) if p["split"] == "eval"]
    assert len(errors) == 4
    assert summary["best_metric"] == pytest.approx(min(errors))


def test_full_fine_tuning_saves_a_whole_model(tmp_path, bert_dir, csv):
    spec = classification_spec(bert_dir, csv, max_steps=4, eval_steps=2)
    spec.method = MethodSpec("full")
    run(spec, tmp_path / "run")
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "adapter")
    assert reloaded.config.id2label == {0: "negative", 1: "positive"}


@pytest.mark.parametrize("template", [True, False])
def test_causal_lm_sft_masks_the_prompt_and_reports_perplexity(tmp_path, template):
    from neat.engine.loading import load_processor
    from neat.engine.tasks import encode_conversation

    model_dir = tiny_llama_folder(tmp_path / "llama", chat_template=template)
    data = chat_jsonl(tmp_path / "chat.jsonl")
    spec = RunSpec(
        name="tiny-chat",
        task="causal-lm",
        model=ModelSpec(str(model_dir)),
        dataset=DataSpec(str(data), ColumnMap(prompt="prompt", response="response")),
        method=MethodSpec("neat", r=4, target_modules=["q_proj", "v_proj"]),
        training=TrainingSpec(max_steps=30, batch_size=8, eval_steps=15, logging_steps=5, learning_rate=2e-2),
    )
    tokenizer = load_processor(spec)
    messages = [{"role": "user", "content": "say hello"}, {"role": "assistant", "content": "hello there"}]
    encoded = encode_conversation(tokenizer, messages, 64)
    answer = [t for t, label in zip(encoded["input_ids"], encoded["labels"]) if label != -100]
    assert encoded["labels"][0] == -100  # the prompt is not trained on
    assert "hello there" in tokenizer.decode(answer)
    recorder = Recorder()
    summary = run(spec, tmp_path / "run", [recorder])
    assert math.isclose(
        summary["eval"]["eval_perplexity"], math.exp(summary["eval"]["eval_loss"]), rel_tol=1e-6
    )
    evals = recorder.points("eval", "perplexity")
    assert evals and all(v > 1 for v in evals.values())
    losses = list(recorder.points("train", "loss").values())
    assert losses[-1] < losses[0]


def test_chat_messages_column(tmp_path, llama_dir):
    path = tmp_path / "messages.jsonl"
    conv = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
        {"role": "assistant", "content": "goodbye"},
    ]
    path.write_text("\n".join(json.dumps({"messages": conv}) for _ in range(20)), encoding="utf-8")
    spec = RunSpec(
        name="tiny-messages",
        task="causal-lm",
        model=ModelSpec(str(llama_dir)),
        dataset=DataSpec(str(path), ColumnMap(messages="messages")),
        method=MethodSpec("neat", r=2),
        training=TrainingSpec(max_steps=8, batch_size=4, eval_steps=8, logging_steps=1, learning_rate=2e-2),
    )
    # both assistant turns are trained on, neither user turn
    from neat.engine.loading import load_processor
    from neat.engine.tasks import encode_conversation

    tokenizer = load_processor(spec)
    encoded = encode_conversation(tokenizer, conv, 64)
    trained = [t for t, label in zip(encoded["input_ids"], encoded["labels"]) if label != -100]
    assert tokenizer.decode(trained).split() == ["hello", "[SEP]", "goodbye", "[SEP]"]
    recorder = Recorder()
    run(spec, tmp_path / "run", [recorder])
    losses = list(recorder.points("train", "loss").values())
    assert len(losses) == 8 and losses[-1] < losses[0]


def test_image_classification_on_digits_with_embedded_vit(tmp_path, monkeypatch):
    monkeypatch.setenv("NEAT_HOME", str(tmp_path / "home"))
    spec = example_spec("image")
    spec.dataset.max_rows = 120
    spec.training = TrainingSpec(max_steps=4, batch_size=16, eval_steps=2, logging_steps=1)
    summary = run(spec, tmp_path / "run")
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())["labels"]
    assert labels == [str(i) for i in range(10)]
    # the Playground's answers on the validation images give the accuracy the run reported
    from neat.engine.inference import Predictor
    from neat.engine.splits import load_splits

    predictor = Predictor.load(tmp_path / "run")
    _, validation = load_splits(spec)
    columns = spec.dataset.columns
    hits = []
    for row in validation:
        probs = predictor.classify_image(row[columns.image])
        hits.append(max(probs, key=probs.get) == str(row[columns.label]))
    assert len(hits) == 12
    assert summary["eval"]["eval_accuracy"] == pytest.approx(sum(hits) / len(hits))


def test_image_folder_dataset(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("NEAT_HOME", str(tmp_path / "home"))
    for cls, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (20, 20), colour).save(tmp_path / "imgs" / cls / f"{i}.png")
    spec = example_spec("image")
    spec.dataset = DataSpec(
        str(tmp_path / "imgs"), ColumnMap(image="image", label="label"), validation_fraction=0.25
    )
    spec.training = TrainingSpec(max_steps=2, batch_size=4, eval_steps=2)
    run(spec, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "labels.json").read_text())["labels"] == ["blue", "red"]


def test_stop_then_resume_continues_the_same_curve(tmp_path, bert_dir, csv):
    spec = classification_spec(bert_dir, csv, max_steps=20, eval_steps=5)
    straight = Recorder()
    run(spec, tmp_path / "straight", [straight])

    first = Recorder(stop_after_steps=10)
    with pytest.raises(TrainingStopped):
        run(spec, tmp_path / "resumed", [first])
    assert (tmp_path / "resumed" / "checkpoints" / "checkpoint-10").is_dir()
    assert max(first.points("train", "loss")) == 10
    # a save killed half-way leaves a newer checkpoint without trainer_state.json: skipped
    partial = tmp_path / "resumed" / "checkpoints" / "checkpoint-15"
    partial.mkdir()
    (partial / "adapter_model.safetensors").write_bytes(b"truncated")
    second = Recorder()
    run(spec, tmp_path / "resumed", [second], resume=True)

    expected = straight.points("train", "loss")
    got = second.points("train", "loss")
    assert sorted(got) == list(range(11, 21))  # continues after the checkpoint, no restart
    for step, loss in got.items():
        assert loss == pytest.approx(expected[step], rel=1e-4), step
    lines = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    train_steps = [line["step"] for line in lines if line["split"] == "train"]
    assert train_steps == list(range(1, 21))  # one continuous curve, no duplicated points


def test_invalid_spec_is_rejected_before_training(tmp_path, bert_dir, csv):
    spec = classification_spec(bert_dir, csv)
    spec.method.r = 0
    spec.training.learning_rate = 3
    with pytest.raises(SpecError) as info:
        run(spec, tmp_path / "run")
    assert {e.field for e in info.value.errors} == {"method.r", "training.learning_rate"}
    assert not (tmp_path / "run").exists()


def test_wrong_target_modules_name_the_available_layers(tmp_path, bert_dir, csv):
    spec = classification_spec(bert_dir, csv)
    spec.method.target_modules = ["q_proj"]
    with pytest.raises(SpecError) as info:
        run(spec, tmp_path / "run")
    assert info.value.errors[0].field == "method.target_modules"
    assert "query" in str(info.value)


def test_missing_label_column_fails_with_a_clear_message(tmp_path, bert_dir):
    path = tmp_path / "bad.csv"
    path.write_text("text,labl\nfine,1\nbad,0\n" * 10, encoding="utf-8")
    spec = classification_spec(bert_dir, path)
    with pytest.raises(DatasetError, match="label column 'label' not found.*labl"):
        run(spec, tmp_path / "run")


def test_unknown_model_folder_fails_with_a_clear_message(tmp_path, csv):
    spec = classification_spec(tmp_path / "no-such-model", csv)
    with pytest.raises(Exception, match="no-such-model"):
        run(spec, tmp_path / "run")


def test_simulated_out_of_memory_becomes_a_user_error(tmp_path, bert_dir, csv, monkeypatch):
    from neat.engine.errors import OutOfMemoryError

    monkeypatch.setenv("NEAT_SIMULATE_OOM_AT_STEP", "3")
    with pytest.raises(OutOfMemoryError, match="out of memory"):
        run(classification_spec(bert_dir, csv), tmp_path / "run")


def _cli(*args, cwd=REPO, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "neat.train", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def test_cli_examples_are_valid_specs():
    for task in ("classification", "causal-lm", "image"):
        result = _cli("--example", task)
        assert result.returncode == 0, result.stderr
        RunSpec.from_dict(yaml.safe_load(result.stdout)).validate()


def test_cli_trains_resumes_and_reports_bad_specs(tmp_path, bert_dir, csv):
    spec_path = tmp_path / "run.yaml"
    classification_spec(bert_dir, csv, max_steps=4, eval_steps=2).save(spec_path)
    result = _cli(str(spec_path), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "eval_accuracy" in result.stdout
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").exists()
    again = _cli(str(spec_path), "--output-dir", str(tmp_path / "out"), "--resume")
    assert again.returncode == 0, again.stderr

    check = _cli(str(spec_path), "--check")
    assert check.returncode == 0, check.stderr
    assert "96 rows" in check.stdout and "negative" in check.stdout

    spec_path.write_text("method: {name: neet}\n", encoding="utf-8")
    bad = _cli(str(spec_path), "--output-dir", str(tmp_path / "bad"))
    assert bad.returncode == 2
    assert "method.name" in bad.stderr


@pytest.mark.slow
def test_two_process_ddp_run_on_cpu(tmp_path, bert_dir, csv):
    spec_path = tmp_path / "run.yaml"
    classification_spec(bert_dir, csv, max_steps=6, eval_steps=3).save(spec_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "neat.train",
            str(spec_path),
            "--output-dir",
            str(tmp_path / "ddp"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["global_step"] == 6
    assert "world_size=2" in result.stdout
    # 72 rows split over 2 processes: 6 steps cover more than one epoch (one process: 6/9 epoch)
    assert summary["eval"]["epoch"] > 1.0
    single = run(classification_spec(bert_dir, csv, max_steps=6, eval_steps=3), tmp_path / "single")
    # the same loss scale as a single process (no per-process multiplication)
    assert summary["eval"]["eval_loss"] == pytest.approx(single["eval"]["eval_loss"], rel=0.2)


def test_early_stopping_ends_a_run_that_stopped_improving(tmp_path, bert_dir, csv):
    # a learning rate this small leaves validation accuracy flat: no improvement to wait for
    spec = classification_spec(
        bert_dir, csv, max_steps=60, eval_steps=5, learning_rate=1e-7, head_learning_rate=1e-7
    )
    spec.training.early_stopping_patience = 2
    summary = run(spec, tmp_path / "run")
    assert summary["global_step"] == 15  # evaluations at 5 (best), 10 and 15 (no better): stop


def test_save_merged_writes_a_plain_transformers_model(tmp_path, bert_dir, csv):
    spec = classification_spec(bert_dir, csv, max_steps=4, eval_steps=2)
    spec.training.save_merged = True
    run(spec, tmp_path / "run")
    merged = AutoModelForSequenceClassification.from_pretrained(tmp_path / "run" / "merged")
    assert not any("peanut" in name for name, _ in merged.named_parameters())
    assert merged.config.id2label == {0: "negative", 1: "positive"}
