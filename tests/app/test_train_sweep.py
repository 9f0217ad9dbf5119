"""The Train form's sweep: compare with LoRA over several seeds, value lists, the grid's size
shown before queueing, the cap, and errors named by their box; queued into the real store."""

from __future__ import annotations

from app import backend
from app.backend import RunSpec
from app.tabs.train import start, sweep
from tests.app.test_train_tab import _values

LORA_LR = backend.method_defaults("classification", "lora")["training"]["learning_rate"]


def _specs(result) -> list[RunSpec]:
    return [RunSpec.from_dict(backend.get_job(i)["spec"]) for i in result.job_ids]


def test_compare_with_lora_over_three_seeds_queues_six_linked_jobs(neat_home, tiny_model, reviews_csv):
    values = _values(
        tiny_model,
        reviews_csv,
        compare_lora=True,
        compare_seeds=3,
        r=4,
        depth=2,
        target_modules=["query", "value"],
        learning_rate=3e-3,  # NEAT's rate, set by hand: the LoRA runs must not inherit it
    )
    assert sweep.size_text(start.planned_runs(values)).startswith("**6 runs will be queued** (lora, neat)")
    result = start.start(values)
    assert result.errors == [] and len(result.job_ids) == 6
    assert len({backend.get_job(i)["sweep_id"] for i in result.job_ids}) == 1
    specs = _specs(result)
    pairs = [(s.method.name, s.training.seed) for s in specs]
    assert pairs == [("neat", 42), ("lora", 42), ("neat", 43), ("lora", 43), ("neat", 44), ("lora", 44)]
    for lora in (s for s in specs if s.method.name == "lora"):
        assert (lora.method.r, lora.training.learning_rate) == (5, LORA_LR)  # equal budget, LoRA's own rate
    assert all(s.training.learning_rate == 3e-3 != LORA_LR for s in specs if s.method.name == "neat")
    assert len({s.name for s in specs}) == 6
    assert [s.name.rsplit("-", 2)[-2:] for s in specs[:2]] == [["neat", "s42"], ["lora", "s42"]]
    assert "sweep of 6 runs" in result.message


def test_value_lists_queue_their_grid_and_the_size_is_shown_first(neat_home, tiny_model, reviews_csv):
    values = _values(tiny_model, reviews_csv, sweep_learning_rate="1e-3, 5e-3", sweep_method="neat, lora")
    planned = start.planned_runs(values)
    assert sweep.size_text(planned).startswith("**4 runs will be queued**")
    result = start.start(values)
    assert result.errors == [] and len(result.job_ids) == 4
    points = sorted((s.method.name, s.training.learning_rate) for s in _specs(result))
    assert points == [("lora", 1e-3), ("lora", 5e-3), ("neat", 1e-3), ("neat", 5e-3)]
    assert backend.get_job(result.job_ids[0])["sweep_id"] == backend.get_job(result.job_ids[-1])["sweep_id"]

    # compare on with a swept learning rate: each NEAT point's twin takes that point's rate
    values = _values(tiny_model, reviews_csv, sweep_learning_rate="1e-3, 5e-3", compare_lora=True)
    runs = start.planned_runs(values)
    assert sorted((r.method.name, r.training.learning_rate) for r in runs) == points


def test_a_sweep_that_cannot_be_queued_says_why_and_queues_nothing(neat_home, tiny_model, reviews_csv):
    too_many = _values(
        tiny_model, reviews_csv, sweep_seed=",".join(str(s) for s in range(33)), sweep_r="4, 8"
    )
    result = start.start(too_many)
    assert [e.field for e in result.errors] == ["sweep"]
    assert "66 runs is more than the 64" in result.errors[0].message
    bad = _values(tiny_model, reviews_csv, sweep_learning_rate="1e-3, fast", sweep_depth="1, 2.5")
    result = start.start(bad)
    messages = sorted(e.message for e in result.errors)
    assert messages == [
        "Depths: '2.5' (item 2) is not a whole number",
        "Learning rates: 'fast' (item 2) is not a number",
    ]
    assert all(e.field == "sweep" for e in result.errors)
    result = start.start(_values(tiny_model, reviews_csv, compare_lora=True, compare_seeds=6))
    assert [e.field for e in result.errors] == ["method.seeds"] and "from 1 to 5" in result.errors[0].message
    assert backend.list_jobs() == [] and "Nothing was queued" in result.message
    # the size line says the same before Start is pressed
    assert "66 runs" in sweep.size_line(too_many, start.planned_runs)
    assert (
        sweep.size_line(_values(tiny_model, reviews_csv), start.planned_runs) == ""
    )  # no sweep asked: nothing to say
