"""The quality suite's default picks: chosen on validation, on the seeds every rate has run.

Pure aggregation over hand-made run records (no training): the rule that decides the shipped
defaults must not favour a rate because it lacks a seed whose validation split is hard.
"""

from __future__ import annotations

import copy

import pytest

from benchmarks.quality import aggregate
from benchmarks.quality_picks import default_picks
from benchmarks.quality_tasks import suite
from neat.engine.defaults import method_defaults


def _runs(method: str, table: dict[float, dict[int, float]]) -> list[dict]:
    return [
        {"method": method, "lr": lr, "seed": seed, "val": val, "test": val, "trainable_parameters": 1}
        for lr, by_seed in table.items()
        for seed, val in by_seed.items()
    ]


@pytest.fixture
def cfgs():
    tasks = copy.deepcopy(suite())
    return {k: tasks[k] for k in ("sentiment", "topic", "chat")}


def test_a_rate_missing_a_hard_seed_does_not_win(cfgs) -> None:
    # seed 2's validation split is hard for every rate; 1e-2 has not run it yet
    table = {5e-3: {0: 0.80, 1: 0.80, 2: 0.60}, 1e-2: {0: 0.78, 1: 0.78}}
    result = aggregate(cfgs["sentiment"], _runs("neat", table))
    assert result["selected"]["neat"]["lr"] == 5e-3  # 0.80 vs 0.78 on seeds 0 and 1
    picks = default_picks({"sentiment": cfgs["sentiment"]}, {"sentiment": result})
    (neat,) = [p for p in picks if p["method"] == "neat"]
    assert neat["pick_lr"] == 5e-3 and neat["pick_val"] == pytest.approx(0.80)


def test_picks_average_over_the_kinds_tasks_and_minimise_loss(cfgs) -> None:
    sentiment = aggregate(cfgs["sentiment"], _runs("lora", {5e-3: {0: 0.70}, 1e-2: {0: 0.80}}))
    topic = aggregate(cfgs["topic"], _runs("lora", {5e-3: {0: 0.90}, 1e-2: {0: 0.70}, 2e-2: {0: 0.99}}))
    chat = aggregate(cfgs["chat"], _runs("lora", {5e-3: {0: 2.5}, 2e-2: {0: 2.4}}))
    picks = default_picks(cfgs, {"sentiment": sentiment, "topic": topic, "chat": chat})
    by_kind = {p["kind"]: p for p in picks if p["method"] == "lora"}
    cls = by_kind["classification"]
    # 2e-2 ran on topic only, so it is not scored; 5e-3 (0.80) beats 1e-2 (0.75)
    assert cls["pick_lr"] == 5e-3 and cls["pick_val"] == pytest.approx(0.80)
    assert cls["tasks"] == ["sentiment", "topic"]
    assert cls["default_lr"] == method_defaults("classification", "lora")["training"]["learning_rate"]
    lm = by_kind["causal-lm"]
    assert lm["metric"] == "loss" and lm["pick_lr"] == 2e-2  # the lower loss
