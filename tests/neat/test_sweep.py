"""Sweeps: value lists as typed, the grid, its cap, names, and each method at its own defaults."""

from __future__ import annotations

import pytest

from neat.engine.defaults import method_defaults
from neat.engine.errors import SpecError
from neat.engine.spec import example_spec
from neat.engine.sweep import MAX_SWEEP_RUNS, expand_grid, field_kind, parse_value_list


def _fields(error: SpecError) -> list[str]:
    return [e.field for e in error.errors]


def test_parse_value_list_reads_numbers_names_and_drops_duplicates():
    assert parse_value_list("1e-3, 5e-3", "float") == [0.001, 0.005]
    assert parse_value_list("4,8 , 16,8", "int") == [4, 8, 16]
    assert parse_value_list("2.0", int) == [2]
    assert parse_value_list(" neat , lora ", "str") == ["neat", "lora"]


@pytest.mark.parametrize(
    ("text", "kind", "words"),
    [
        ("1e-3, 5e-3x", "float", "'5e-3x' (item 2) is not a number"),
        ("4, 8.5", "int", "'8.5' (item 2) is not a whole number"),
        ("1e-3,,2e-3", "float", "item 2 of '1e-3,,2e-3' is empty"),
        ("  ", "float", "give at least one value"),
        ("nan", "float", "'nan' (item 1) is not a number"),
    ],
)
def test_parse_value_list_names_the_bad_item(text, kind, words):
    with pytest.raises(SpecError) as info:
        parse_value_list(text, kind, field="training.learning_rate")
    assert _fields(info.value) == ["training.learning_rate"]
    assert words in str(info.value)


def test_field_kind_knows_the_specs_scalars_and_refuses_the_rest():
    assert field_kind("training.learning_rate") == "float"
    assert field_kind("method.r") == "int"
    assert field_kind("method.name") == "str"
    for bad in ("training.lerning_rate", "method", "method.target_modules", "nope.r"):
        with pytest.raises(SpecError) as info:
            field_kind(bad)
        assert _fields(info.value) == [bad]


def test_grid_is_the_cartesian_product_with_readable_names():
    spec = example_spec("classification")
    spec.name = "run"
    runs = expand_grid(
        spec, {"training.learning_rate": [1e-3, 5e-3], "method.r": [4, 8], "training.seed": [42, 43]}
    )
    assert len(runs) == 8
    points = {(r.training.learning_rate, r.method.r, r.training.seed) for r in runs}
    assert points == {(lr, r, s) for lr in (1e-3, 5e-3) for r in (4, 8) for s in (42, 43)}
    assert runs[0].name == "run-lr0.001-r4-s42"
    assert len({r.name for r in runs}) == 8
    assert (
        spec.training.learning_rate == method_defaults("classification", "neat")["training"]["learning_rate"]
    )


def test_a_method_point_runs_at_that_methods_defaults_unless_the_value_is_swept():
    spec = example_spec("classification")  # NEAT
    spec.training.learning_rate = 2e-3  # the person's own NEAT learning rate
    spec.method.scaling = 3.0
    lora_lr = method_defaults("classification", "lora")["training"]["learning_rate"]
    neat, lora = expand_grid(spec, {"method.name": ["neat", "lora"]})
    assert (neat.method.name, neat.training.learning_rate, neat.method.scaling) == ("neat", 2e-3, 3.0)
    assert (lora.method.name, lora.training.learning_rate, lora.method.depth) == ("lora", lora_lr, 0)
    assert lora.name.endswith("-lora")
    spec.name = "minilm-neat"  # a name that says its method is not doubled: minilm-neat, minilm-lora
    assert [r.name for r in expand_grid(spec, {"method.name": ["neat", "lora"]})] == [
        "minilm-neat",
        "minilm-lora",
    ]
    # learning rate swept too: every point, LoRA's included, takes the swept values
    runs = expand_grid(spec, {"method.name": ["neat", "lora"], "training.learning_rate": [1e-3, 4e-3]})
    assert sorted((r.method.name, r.training.learning_rate) for r in runs) == [
        ("lora", 1e-3),
        ("lora", 4e-3),
        ("neat", 1e-3),
        ("neat", 4e-3),
    ]
    # a LoRA base spec sweeping NEAT in: the NEAT point gets NEAT's defaults
    base = example_spec("classification", "lora")
    _, neat_point = expand_grid(base, {"method.name": ["lora", "neat"]})
    expected = method_defaults("classification", "neat")
    assert neat_point.training.learning_rate == expected["training"]["learning_rate"]
    assert neat_point.method.neat_init == expected["method"]["neat_init"]


def test_fields_a_method_ignores_collapse_into_one_run():
    spec = example_spec("classification")
    runs = expand_grid(spec, {"method.name": ["neat", "lora"], "method.depth": [0, 1, 2]})
    assert sorted((r.method.name, r.method.depth) for r in runs) == [
        ("lora", 0),
        ("neat", 0),
        ("neat", 1),
        ("neat", 2),
    ]


def test_the_grid_is_capped_and_bad_values_are_refused_before_anything_runs():
    spec = example_spec("classification")
    at_cap = expand_grid(spec, {"training.seed": list(range(32)), "method.r": [4, 8]})
    assert len(at_cap) == MAX_SWEEP_RUNS
    with pytest.raises(SpecError) as info:
        expand_grid(spec, {"training.seed": list(range(33)), "method.r": [4, 8]})
    assert "66 runs is more than the 64" in str(info.value)
    with pytest.raises(SpecError) as info:  # far too many: refused without building them
        expand_grid(spec, {"training.seed": list(range(100)), "method.r": list(range(1, 101))})
    assert "10000 runs" in str(info.value)
    with pytest.raises(SpecError) as info:
        expand_grid(spec, {"training.learning_rate": [1e-3, 2.0]})
    assert _fields(info.value) == ["training.learning_rate"] and "got 2.0" in str(info.value)
    with pytest.raises(SpecError) as info:
        expand_grid(spec, {"method.name": ["neat", "lorra"]})
    assert "'lorra' is not one of" in str(info.value)
