"""Presets: each sets every field it owns (a full setting, not a partial one) and says what changed."""

import pytest

from app.tabs.train import form
from app.tabs.train.form import FORM_DEFAULTS, validate_form
from app.tabs.train.presets import PRESET_KEYS, apply_preset, preset_values
from neat.engine.defaults import QUICK_DEMO
from neat.engine.spec import quick_demo_spec


def _far_from(values: dict) -> dict:
    """A form whose every field differs from `values` (so a preset must change each one)."""
    out = dict(FORM_DEFAULTS)
    for key, value in values.items():
        if isinstance(value, bool):
            out[key] = not value
        elif isinstance(value, (int, float)):
            out[key] = value + 3
        elif value in (None, "", []):
            out[key] = 7
        else:
            out[key] = f"not-{value}"
    return out


@pytest.mark.parametrize("name", list(PRESET_KEYS))
def test_a_preset_sets_every_field_it_owns_and_names_each_change(name):
    owned = preset_values(name, "classification")
    assert set(owned) == set(PRESET_KEYS[name])
    start = {**_far_from(owned), "task": "classification", "seed": 7}
    after, note = apply_preset(name, start)
    for key, value in owned.items():
        assert after[key] == value, key
    assert after["seed"] == 7  # not owned: kept
    assert note.startswith(f"Preset **{name}**: ")
    for key in owned:
        if key != "task":
            assert form.FIELD_BY_KEY[key].label in note, key
    # pressed again: nothing left to change, and it says so
    assert "nothing changed" in apply_preset(name, after)[1]


def test_neat_s_after_the_quick_demo_is_a_full_epoch_on_all_rows_and_says_so():
    demo, _ = apply_preset("Quick CPU demo", FORM_DEFAULTS)
    small, note = apply_preset("NEAT-S", demo)
    spec, errors = validate_form(small)
    assert errors == []
    assert spec.training.max_steps == -1 and spec.dataset.max_rows is None
    assert spec.training.max_length == FORM_DEFAULTS["max_length"] != 64
    assert spec.training.batch_size == FORM_DEFAULTS["batch_size"]
    assert "Max steps 60 → off (epochs decide)" in note
    assert "Max training rows 1,200 → all rows" in note
    assert "Max length 64 → 128" in note
    # the model and data stay the demo's: NEAT-S does not own them
    assert spec.model.name_or_path == "embedded:minilm" and spec.dataset.source == "rotten_tomatoes"


def test_neat_l_shape_and_neat_s_shape():
    small = preset_values("NEAT-S", "classification")
    assert (small["r"], small["depth"]) == (8, 0)
    large = preset_values("NEAT-L", "causal-lm")
    assert (large["r"], large["depth"], large["method"]) == (32, 2, "neat")
    with pytest.raises(ValueError):
        preset_values("NEAT-XL", "classification")


def test_the_quick_demo_preset_is_the_engines_quick_demo():
    elsewhere = {**FORM_DEFAULTS, "model_kind": form.MODEL_OTHER, "model_path": "/x"}
    demo, _ = apply_preset("Quick CPU demo", elsewhere)
    spec, errors = validate_form(demo)
    assert errors == []
    engine = quick_demo_spec()
    assert spec.model == engine.model and spec.task == engine.task
    assert spec.dataset == engine.dataset and spec.method == engine.method
    assert spec.training == engine.training
    assert spec.training.max_steps == QUICK_DEMO["training"]["max_steps"] == 60
