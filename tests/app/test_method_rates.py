"""The form's method numbers follow the method and the task unless the user typed their own."""

from __future__ import annotations

import pytest

from app.tabs.train.form import FORM_DEFAULTS, validate_form
from app.tabs.train.method_rates import follow_method_defaults
from neat.engine.defaults import method_defaults


def _form(**values) -> dict:
    return {**FORM_DEFAULTS, **values}


@pytest.mark.parametrize("task", ["classification", "causal-lm", "image-classification"])
@pytest.mark.parametrize("method", ["neat", "lora", "full"])
def test_a_form_left_at_defaults_gets_each_methods_own_numbers(task, method):
    values = _form(task=task, method=method)
    changes, note = follow_method_defaults(values)
    values.update(changes)
    spec, errors = validate_form(values)
    assert not errors, errors
    expected = method_defaults(task, method)
    assert spec.training.learning_rate == expected["training"]["learning_rate"]
    if "head_learning_rate" in expected["training"]:
        assert spec.training.head_learning_rate == expected["training"]["head_learning_rate"]
    assert bool(changes) == bool(note)
    # applied once, nothing is left to change
    assert follow_method_defaults(values) == ({}, "")


def test_full_fine_tuning_never_starts_at_an_adapters_rate_and_the_note_names_the_change():
    changes, note = follow_method_defaults(_form(method="full"))
    full_lr = method_defaults("classification", "full")["training"]["learning_rate"]
    assert changes == {"learning_rate": full_lr}
    assert "Full fine-tuning" in note and f"→ {full_lr:g}" in note


def test_a_number_the_user_typed_stays():
    assert follow_method_defaults(_form(method="full", learning_rate=3e-5)) == ({}, "")
    changes, _ = follow_method_defaults(_form(method="lora", learning_rate=7e-3))
    assert "learning_rate" not in changes


def test_switching_back_restores_the_first_methods_defaults():
    values = _form(method="full")
    values.update(follow_method_defaults(values)[0])
    values["method"] = "neat"
    values.update(follow_method_defaults(values)[0])
    assert values["learning_rate"] == method_defaults("classification", "neat")["training"]["learning_rate"]


def test_a_task_without_defaults_changes_nothing():
    assert follow_method_defaults(_form(task="translation")) == ({}, "")
