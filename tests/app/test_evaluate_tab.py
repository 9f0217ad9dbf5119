"""The Evaluate tab's handlers on real tiny runs: two classifiers trained with a test split and
scored through the job store (the worker's own code, run here in-process), then shown — the
metrics table with n and the accuracy interval, the confusion-matrix chart, the misclassified
examples most confident first, two results side by side, the run's own test split."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from app import backend, evaluation_view
from app.tabs import charts, eval_results, evaluate, jobs_tab
from tests.tiny_runs import classification_spec, sentiment_csv, tiny_bert_folder

pytestmark = [pytest.mark.slow]


def _run_in_process(job_id: int) -> dict:
    """What the worker does with a queued job: claim it, run it (training or evaluation)."""
    from jobs import api, evaluation, runner, store

    job = store.claim_job(job_id, "tests", os.getpid())
    assert job is not None, f"job {job_id} was not queued"
    (evaluation.execute if job.get("kind") == "evaluate" else runner.execute)(job, "tests", os.getpid())
    done = api.get_job(job_id)
    assert done["status"] == "succeeded", done["error"]
    return done


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Two finished runs (NEAT and LoRA) with test splits, and their evaluations on a file whose
    labels are partly wrong (so each model makes mistakes to list)."""
    root = tmp_path_factory.mktemp("evaluate_tab")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEAT_HOME", str(root / "home"))
        mp.setenv("NEAT_DATA_DIRS", str(root))
        mp.delenv("NEAT_DB_URL", raising=False)
        mp.delenv("NEAT_QUEUE_URL", raising=False)
        from jobs import api

        model = tiny_bert_folder(root / "bert")
        train_csv = sentiment_csv(root / "reviews.csv", rows=96)
        run_ids = []
        for method in ("neat", "lora"):
            spec = classification_spec(model, train_csv, max_steps=12, eval_steps=12)
            spec.name = f"tiny-{method}"
            spec.method.name = method
            spec.dataset.test_fraction = 0.25
            run_ids.append(_run_in_process(api.submit(spec)))
        flipped = root / "flipped.csv"  # every third label swapped: mistakes a model is sure of
        lines = ["text,label"]
        for i in range(30):
            positive = i % 2 == 1
            words = "good great lovely fine" if positive else "bad awful poor dull"
            label = positive if i % 3 else not positive
            lines.append(f"{words} film number {i},{'positive' if label else 'negative'}")
        flipped.write_text("\n".join(lines) + "\n", encoding="utf-8")
        message, new = evaluate.queue_evaluations(
            [str(j["id"]) for j in run_ids], evaluate.DATA_PATH, "", str(flipped), ""
        )
        assert message.startswith("Queued evaluation"), message
        for choice in new:
            _run_in_process(int(choice.split(":")[1]))
        yield {"runs": run_ids, "evals": new, "flipped": flipped, "root": root}


def test_metrics_table_has_n_and_the_accuracy_interval(scored):
    result = eval_results.load(scored["evals"][0])
    metrics = result["metrics"]
    assert metrics["n"] == 30 and metrics["labelled"]
    table = eval_results.metrics_table(metrics)
    row = table[table["metric"] == "accuracy"].iloc[0]
    assert row["n"] == 30 and row["value"] == round(metrics["accuracy"], 4)
    lo, hi = (float(x) for x in row["95% interval"].split(" to "))
    assert lo <= metrics["accuracy"] <= hi and hi - lo > 0.1  # 30 examples: a wide interval
    assert "macro_f1" in set(table["metric"])
    assert "confusion_matrix" not in set(table["metric"])  # drawn, not listed


def test_confusion_matrix_chart_is_built_from_the_counts(scored):
    result = eval_results.load(scored["evals"][0])
    values = evaluate.panel_values(result)
    confusion = values[3]["value"]
    spec = charts.spec_of(confusion)
    cells = spec["data"]["values"]
    labels = result["metrics"]["labels"]
    assert {c["true"] for c in cells} == set(labels) and len(cells) == len(labels) ** 2
    assert sum(c["count"] for c in cells) == 30
    matrix = result["metrics"]["confusion_matrix"]
    for c in cells:
        assert c["count"] == matrix[labels.index(c["true"])][labels.index(c["predicted"])]
    assert spec["layer"][0]["mark"] == "rect" and values[3]["visible"]
    assert values[4]["visible"]  # per-class bars
    bars = charts.spec_of(values[4]["value"])["data"]["values"]
    assert {b["score"] for b in bars} == {"precision", "recall", "f1"}


def test_misclassified_examples_come_most_confident_first(scored):
    result = eval_results.load(scored["evals"][0])
    errors = eval_results.misclassified(result["predictions"])
    predictions = result["predictions"]
    wrong = predictions[predictions["label"].astype(str) != predictions["prediction"].astype(str)]
    assert len(errors) == len(wrong) > 0
    assert (errors["label"] != errors["prediction"]).all()
    assert list(errors["confidence"]) == sorted(errors["confidence"], reverse=True)
    assert list(errors.columns) == ["label", "prediction", "confidence", "text"]  # the text wraps last
    assert evaluate.panel_values(result)[6]["visible"]  # the table is shown


def test_two_jobs_scored_on_the_same_data_sit_side_by_side(scored):
    values, stamp = evaluate.show_results(scored["evals"])
    per_panel = len(values) // evaluate.PANELS
    left, right = values[:per_panel], values[per_panel:]
    assert left[0]["visible"] and right[0]["visible"]
    neat_id, lora_id = (j["id"] for j in scored["runs"])
    assert f"#{neat_id} tiny-neat" in left[1] and f"#{lora_id} tiny-lora" in right[1]
    assert "flipped.csv" in left[1] and "flipped.csv" in right[1] and "30 examples" in right[1]
    assert [s[1] for s in stamp] == ["succeeded", "succeeded"]
    one, _ = evaluate.show_results(scored["evals"][:1])
    assert one[per_panel]["visible"] is False  # one result: the second column hides


def test_the_runs_own_test_split_needs_no_new_evaluation(scored):
    jobs = backend.list_jobs()
    choices = dict((v, label) for label, v in eval_results.result_choices(backend.list_evaluations(), jobs))
    run = scored["runs"][0]
    assert f"test:{run['id']}" in choices
    result = eval_results.load(f"test:{run['id']}")
    assert result["metrics"]["n"] == 24  # a quarter of 96 rows
    assert "test split" in eval_results.heading(result)
    text = eval_results.test_metric_text(backend.get_job(run["id"]))
    assert text.startswith("accuracy ") and text.endswith("(n=24)")
    table = jobs_tab.jobs_frame(jobs)  # the Jobs table's column, for runs with a test split only
    shown = dict(zip(table["id"], table["test metric"], strict=True))
    assert shown[run["id"]] == text
    assert all(shown[int(e.split(":")[1])] == "" for e in scored["evals"])


def test_predictions_csv_is_offered_for_download(scored):
    result = eval_results.load(scored["evals"][1])
    download = evaluate.panel_values(result)[8]
    staged = Path(download["value"])
    assert download["visible"] and staged.name.endswith("predictions.csv")
    assert len(pd.read_csv(staged)) == 30


def test_bad_requests_are_refused_before_queueing(scored):
    ids = [str(scored["runs"][0]["id"])]
    assert evaluate.queue_evaluations([], evaluate.DATA_TEST, "", "", "")[0].startswith("✗ Choose")
    message, new = evaluate.queue_evaluations(ids, evaluate.DATA_PATH, "", "/etc/passwd", "")
    assert "not found or not allowed" in message and new == []
    message, _ = evaluate.queue_evaluations(ids, evaluate.DATA_TEST, "", "", "text")
    assert "not ROLE=COLUMN" in message
    message, _ = evaluate.queue_evaluations(ids, evaluate.DATA_UPLOAD, "", "", "")
    assert message == "✗ Upload a data file first."


# Before the module's second fixture: it points NEAT_HOME at another store while it lives.
def test_the_best_metric_in_the_jobs_table_has_its_n_and_interval(scored):
    import json

    from neat.engine.stats import binomial_interval

    job = backend.get_job(scored["runs"][0]["id"])
    rows = json.loads((Path(job["output_dir"]) / "summary.json").read_text())["rows"]["validation"]
    assert job["best_metric_name"].removeprefix("eval_") == "accuracy" and 0 < rows < 500
    lo, hi = binomial_interval(round(job["best_metric_value"] * rows), rows)
    text = eval_results.best_metric_text(job)
    assert text == f"accuracy {job['best_metric_value']:.4g} (n={rows}, 95% {lo:.2f}-{hi:.2f})"
    table = jobs_tab.jobs_frame([job])
    assert list(table["best metric"]) == [text]
    running = {**job, "status": "running"}  # no n until the run has finished
    assert eval_results.best_metric_text(running) == f"accuracy {job['best_metric_value']:.4g}"


def test_a_file_without_labels_gives_predictions_only():
    table = eval_results.metrics_table({"task": "classification", "n": 3, "labelled": False, "data": "x.csv"})
    assert table.iloc[0]["n"] == 3 and "no labels" in table.iloc[0]["metric"]
    frame = pd.DataFrame({"text": ["a"], "prediction": ["positive"], "confidence": [0.9]})
    assert eval_results.misclassified(frame).empty


@pytest.fixture(scope="module")
def chat_and_image_runs(tmp_path_factory):
    """A tiny chat run and a tiny image run, each scored on its test split after training."""
    import json

    from neat.engine.spec import (
        ColumnMap,
        DataSpec,
        MethodSpec,
        ModelSpec,
        RunSpec,
        TrainingSpec,
        example_spec,
    )
    from tests.tiny_runs import tiny_llama_folder

    root = tmp_path_factory.mktemp("evaluate_tab_more")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEAT_HOME", str(root / "home"))
        mp.delenv("NEAT_DB_URL", raising=False)
        mp.delenv("NEAT_QUEUE_URL", raising=False)
        from jobs import api

        data = root / "chat.jsonl"
        rows = [{"prompt": f"say hello {i}", "response": f"hello there friend {i}"} for i in range(24)]
        data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
        chat = RunSpec(
            name="tiny-chat",
            task="causal-lm",
            model=ModelSpec(str(tiny_llama_folder(root / "llama"))),
            dataset=DataSpec(str(data), ColumnMap(prompt="prompt", response="response"), test_fraction=0.25),
            method=MethodSpec("neat", r=4, target_modules=["q_proj", "v_proj"]),
            training=TrainingSpec(
                max_steps=4, batch_size=8, eval_steps=4, logging_steps=2, learning_rate=2e-2
            ),
        )
        image = example_spec("image")
        image.dataset.max_rows = 80
        image.dataset.test_fraction = 0.02
        image.training = TrainingSpec(max_steps=2, batch_size=16, eval_steps=2, logging_steps=1)
        yield {"chat": _run_in_process(api.submit(chat)), "image": _run_in_process(api.submit(image))}


def test_chat_shows_base_and_adapted_answers_side_by_side(chat_and_image_runs):
    result = eval_results.load(f"test:{chat_and_image_runs['chat']['id']}")
    values = evaluate.panel_values(result)
    chat = values[7]
    assert chat["visible"] and list(chat["value"].columns) == [
        "prompt",
        "reference",
        "base answer",
        "adapted answer",
        "loss",
    ]
    assert len(chat["value"]) == result["metrics"]["n"] == 6
    assert not values[6]["visible"] and not values[3]["visible"]  # no error table, no matrix
    table = eval_results.metrics_table(result["metrics"])
    assert {"loss", "perplexity", "tokens"} <= set(table["metric"]) and set(table["n"]) == {6}


def test_misclassified_images_come_as_thumbnails(chat_and_image_runs):
    result = eval_results.load(f"test:{chat_and_image_runs['image']['id']}")
    errors = eval_results.misclassified(result["predictions"])
    assert len(errors) > 0  # two training steps on ten digits: mistakes to show
    gallery = evaluate.panel_values(result)[5]
    thumbs = gallery["value"]
    assert gallery["visible"] and len(thumbs) == min(len(errors), eval_results.MAX_THUMBNAILS)
    first_image, caption = thumbs[0]
    assert max(first_image.size) <= 160
    top = errors.iloc[0]
    assert caption == f"{top['label']} → {top['prediction']} ({float(top['confidence']):.2f})"
    # a name that points outside the scored data and the run's folders opens nothing
    assert evaluation_view.image_file("../../../etc/passwd", evaluation_view.image_roots(result)) is None
