"""app/backend.py's evaluation, sweep and seed-group functions over a real store and real runs:
a real NEAT/LoRA pair trained on a tiny model and scored through the worker's code path, and
hand-written summaries in real run folders for the paired-interval arithmetic."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from app import backend
from app.access import Viewer
from jobs import queue, store
from neat.engine.errors import SpecError
from tests.tiny_runs import classification_spec, sentiment_csv

HOST, PID = "test-host", 4242
ALICE, BOB = Viewer("alice"), Viewer("bob")


def _finished(spec, sweep_id: int | None, owner: str = "alice", train: bool = True, summary=None) -> dict:
    """A training job that ends succeeded: trained for real, or given a hand-written summary.json."""
    from neat.engine.train import run

    job = store.create_job(spec.to_dict(), name=spec.name, sweep_id=sweep_id, owner=owner)
    store.claim_job(job["id"], HOST, PID)
    out = Path(job["output_dir"])
    if train:
        run(spec, out)
    else:
        out.mkdir(parents=True)
        (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return store.set_status(job["id"], "succeeded", owner=(HOST, PID))


@pytest.fixture
def real_pair(neat_home: Path, tiny_model: Path, tmp_path: Path) -> dict:
    """NEAT and its LoRA twin (at LoRA's defaults), seed 42, one sweep, each with a test split."""
    spec = classification_spec(tiny_model, sentiment_csv(tmp_path / "reviews.csv", rows=64), max_steps=6)
    spec.dataset.test_fraction = 0.25
    spec.name = "pair"
    specs = backend.sweep_plan(spec, {"method.name": "neat, lora", "training.seed": "42", "method.r": ""})
    assert [s.name for s in specs] == ["pair-neat-s42", "pair-lora-s42"]
    sweep = store.create_sweep("pair")
    jobs = [_finished(s, sweep["id"]) for s in specs]
    return {"sweep": sweep["id"], "jobs": jobs}


def test_group_comparison_and_table_of_a_real_pair(real_pair):
    sweep, (neat, lora) = real_pair["sweep"], real_pair["jobs"]
    result = backend.group_comparison(sweep, ALICE)
    assert (result["metric"], result["source"], result["higher_is_better"]) == ("accuracy", "test", True)
    assert result["n_examples"] == 16
    assert set(result["methods"]) == {"neat", "lora"}
    for method, job in (("neat", neat), ("lora", lora)):
        summary = json.loads((Path(job["output_dir"]) / "summary.json").read_text())
        row = result["methods"][method]
        assert (row["runs"], row["job_ids"], row["sd"]) == (1, [job["id"]], 0.0)
        assert row["mean"] == summary["test_metrics"]["accuracy"]
        assert row["trainable_params"] == summary["trainable_parameters"] > 0
        assert row["train_seconds"] == summary["train_seconds"] > 0
        assert row["peak_memory_gb"] > 0
    paired = result["paired"]
    expected = 100 * (result["methods"]["neat"]["mean"] - result["methods"]["lora"]["mean"])
    assert paired["n"] == 1 and math.isclose(paired["mean"], expected) and paired["lo"] is None
    assert "one run per method cannot tell NEAT and LoRA apart" in result["sentence"]

    table = backend.sweep_table(sweep, ALICE)
    assert table.attrs["metric"] == "accuracy" and len(table) == 2
    assert list(table.columns[:9]) == [
        "id",
        "name",
        "status",
        "method",
        "lr",
        "scaling",
        "r",
        "depth",
        "seed",
    ]
    assert table["validation"].is_monotonic_decreasing and list(table["best"]) == ["★", ""]
    lora_row = table[table["method"] == "lora"].iloc[0]
    assert lora_row["lr"] == backend.method_defaults("classification", "lora")["training"]["learning_rate"]
    assert math.isnan(lora_row["depth"]) and lora_row["seed"] == 42
    with pytest.raises(backend._api().JobNotFound):  # bob sees none of alice's sweep
        backend.group_comparison(sweep, BOB)


def test_evaluations_through_the_backend(real_pair, tmp_path: Path, monkeypatch):
    neat, lora = real_pair["jobs"]
    monkeypatch.setenv("NEAT_DATA_DIRS", str(tmp_path / "open"))
    (tmp_path / "open").mkdir()
    with pytest.raises(SpecError, match="not found or not allowed"):
        backend.submit_evaluation([neat["id"]], data=str(tmp_path / "reviews.csv"), viewer=ALICE)
    with pytest.raises(backend._api().JobNotFound):
        backend.submit_evaluation([neat["id"], lora["id"]], viewer=BOB)
    assert backend.list_evaluations(ALICE) == []  # nothing was queued by the refusals

    ids = backend.submit_evaluation([neat["id"], lora["id"]], viewer=ALICE)
    assert [e["id"] for e in backend.list_evaluations(ALICE)] == ids[::-1]
    assert backend.list_evaluations(BOB) == []
    first = backend.evaluation_result(ids[0], ALICE)
    assert first["metrics"] is None and first["run_job"]["id"] == neat["id"]
    for job_id in ids:  # what the worker's Huey task runs
        assert queue.run_job(job_id) == "succeeded"
    result = backend.evaluation_result(ids[0], ALICE)
    own = backend.test_result(neat["id"], ALICE)
    assert result["metrics"]["n"] == own["metrics"]["n"] == 16
    assert result["metrics"]["accuracy"] == own["metrics"]["accuracy"]  # the same split, the same model
    assert len(result["predictions"]) == 16 and "prediction" in result["predictions"].columns
    assert result["predictions_path"].parent == Path(result["job"]["output_dir"])
    assert own["predictions_path"] == Path(neat["output_dir"]) / "predictions.csv"
    assert backend.job_spec(result["job"]) is None  # an evaluation is not a run spec to clone

    backend.job_action("delete", neat["id"], ALICE)
    orphan = backend.evaluation_result(ids[0], ALICE)
    assert orphan["orphaned"] and orphan["run_job"] is None and orphan["metrics"]["n"] == 16
    assert [e["run_exists"] for e in backend.list_evaluations(ALICE)] == [True, False]


def _summary(method: str, seed: int, accuracy: float) -> dict:
    return {
        "method": method,
        "eval": {"eval_accuracy": accuracy - 0.01},
        "test_metrics": {"accuracy": accuracy, "n": 500},
        "trainable_parameters": 1000 if method == "neat" else 1100,
        "train_seconds": 10.0 + seed,
        "peak_memory_bytes": {"host_rss": 2 * 2**30},
    }


@pytest.mark.parametrize(
    ("neat", "lora", "words"),
    [
        # differences 5, 2, 2 points: mean 3, sd sqrt(3), t(0.975, 2) = 4.303 -> 3 ± 4.303
        ([0.80, 0.82, 0.78], [0.75, 0.80, 0.76], "cannot tell the two apart (95% interval -1.3 to 7.3)"),
        # differences 5, 4, 6 points: mean 5, sd 1 -> 5 ± 4.303 / sqrt(3) = 5 ± 2.484
        ([0.80, 0.82, 0.78], [0.75, 0.78, 0.72], "NEAT better by 5 points (95% interval 2.52 to 7.48)"),
    ],
)
def test_paired_difference_over_seeds_against_a_hand_computed_case(neat_home, neat, lora, words):
    from neat.engine.spec import example_spec

    sweep = store.create_sweep("seeds")
    for method, values in (("neat", neat), ("lora", lora)):
        for seed, accuracy in zip((42, 43, 44), values):
            spec = example_spec("classification", method)
            spec.training.seed = seed
            _finished(spec, sweep["id"], train=False, summary=_summary(method, seed, accuracy))
    result = backend.group_comparison(sweep["id"], ALICE)
    assert result["source"] == "test" and result["n_examples"] == 500
    assert result["methods"]["neat"]["mean"] == pytest.approx(sum(neat) / 3)
    assert result["methods"]["lora"]["peak_memory_gb"] == pytest.approx(2.0)
    assert result["paired"]["seeds"] == [42, 43, 44] and result["paired"]["n"] == 3
    assert words in result["sentence"]
    table = backend.sweep_table(sweep["id"], ALICE)
    assert table.iloc[0]["validation"] == pytest.approx(max(neat + lora) - 0.01)


def test_a_sweep_of_4_queues_4_linked_jobs_through_the_backend(neat_home, tiny_model, tmp_path):
    spec = classification_spec(tiny_model, sentiment_csv(tmp_path / "reviews.csv"))
    lists = {"training.learning_rate": "1e-3, 5e-3", "method.name": "neat,lora", "method.depth": " "}
    specs = backend.sweep_plan(spec, lists)
    ids = backend.submit_many(specs, "lr x method", ALICE)
    jobs = [backend.get_job(i, ALICE) for i in ids]
    assert len(ids) == 4 and len({j["sweep_id"] for j in jobs}) == 1 and jobs[0]["sweep_id"]
    assert {(j["spec"]["method"]["name"], j["spec"]["training"]["learning_rate"]) for j in jobs} == {
        ("neat", 1e-3),
        ("neat", 5e-3),
        ("lora", 1e-3),
        ("lora", 5e-3),
    }
    with pytest.raises(SpecError) as info:  # every bad list named at once, nothing queued
        backend.sweep_plan(spec, {"training.learning_rate": "1e-3, big", "method.r": "4, 8.5"})
    assert {e.field for e in info.value.errors} == {"training.learning_rate", "method.r"}
    assert backend.sweep_plan(spec, {"method.r": ""}) == [spec]
