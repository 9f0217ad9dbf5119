"""Form values <-> RunSpec: what a person types becomes exactly the spec a job runs."""

from __future__ import annotations

import pytest

from app.tabs.train import form
from app.tabs.train.form import FORM_DEFAULTS, form_to_spec, spec_to_form, validate_form
from neat.engine.spec import RunSpec, example_spec


def test_defaults_make_a_valid_spec_at_neat_own_defaults():
    spec, errors = validate_form(dict(FORM_DEFAULTS))
    assert errors == []
    assert spec.model.name_or_path == "embedded:minilm"
    assert spec.dataset.source == "rotten_tomatoes"
    assert spec.method.name == "neat" and spec.method.r == 8 and spec.method.depth == 0
    from neat.engine.defaults import method_defaults

    neat = method_defaults("classification", "neat")
    for name, value in neat["training"].items():
        assert getattr(spec.training, name) == pytest.approx(value), name
    assert spec.method.scaling == pytest.approx(neat["method"]["scaling"])
    assert spec.method.neat_init == "calibrated"
    assert spec.training.max_steps == -1  # empty max steps: use epochs
    assert spec.dataset.max_rows is None
    assert spec.method.target_modules is None  # nothing checked: the architecture's defaults
    assert spec.name == "minilm-rotten_tomatoes-neat"


def test_numbers_from_the_form_become_typed_fields():
    values = {
        **FORM_DEFAULTS,
        "r": 16.0,
        "depth": 1.0,
        "max_steps": 30.0,
        "max_rows": 400.0,
        "batch_size": 8.0,
        "target_modules": ["query", "key"],
        "name": "  my run ",
        "col_text_pair": "",
    }
    spec, errors = validate_form(values)
    assert errors == []
    assert (spec.method.r, spec.method.depth) == (16, 1)
    assert isinstance(spec.method.r, int)
    assert spec.training.max_steps == 30 and spec.dataset.max_rows == 400
    assert spec.method.target_modules == ["query", "key"]
    assert spec.name == "my run"
    assert spec.dataset.columns.text_pair is None


def test_model_and_dataset_sources_pick_the_right_field():
    values = {
        **FORM_DEFAULTS,
        "model_kind": form.MODEL_OTHER,
        "model_path": "/models/bert",
        "data_kind": form.DATA_UPLOAD,
        "data_upload": "/home/u/uploads/abc-x.csv",
        "data_ref": "ignored",
        "data_builtin": "ignored",
    }
    spec, _ = form_to_spec(values)
    assert spec.model.name_or_path == "/models/bert"
    assert spec.dataset.source == "/home/u/uploads/abc-x.csv"
    values.update(data_kind=form.DATA_OTHER, data_ref="imdb")
    assert form_to_spec(values)[0].dataset.source == "imdb"


@pytest.mark.parametrize(
    "key, value, field",
    [
        ("r", 0, "method.r"),
        ("depth", -1, "method.depth"),
        ("scaling", 0, "method.scaling"),
        ("learning_rate", 2.0, "training.learning_rate"),
        ("batch_size", 0, "training.batch_size"),
        ("batch_size", 2.5, "training.batch_size"),
        ("batch_size", None, "training.batch_size"),
        ("learning_rate", "abc", "training.learning_rate"),
        ("warmup_ratio", 1.5, "training.warmup_ratio"),
        ("validation_fraction", 0, "dataset.validation_fraction"),
        ("max_rows", 1, "dataset.max_rows"),
        ("model_embedded", "embedded:nope", "model.name_or_path"),
        ("num_devices", 0, "training.num_devices"),
        ("num_devices", 17, "training.num_devices"),
        ("num_devices", 1.5, "training.num_devices"),
    ],
)
def test_invalid_values_name_their_field_and_section(key, value, field):
    _, errors = validate_form({**FORM_DEFAULTS, key: value})
    assert [e.field for e in errors] == [field]
    section = form.section_of(field)
    grouped = form.errors_by_section(errors)
    assert grouped[section] == errors
    shown = form.format_errors(grouped[section])
    assert form.FIELD_LABELS[field] in shown and field in shown


def test_empty_dataset_upload_is_an_error_on_the_dataset_field():
    _, errors = validate_form({**FORM_DEFAULTS, "data_kind": form.DATA_UPLOAD, "data_upload": ""})
    assert [e.field for e in errors] == ["dataset.source"]
    assert form.section_of("dataset.source") == "dataset"


def test_several_errors_are_all_reported():
    _, errors = validate_form({**FORM_DEFAULTS, "r": 0, "epochs": 0, "seed": "x"})
    assert {e.field for e in errors} == {"method.r", "training.epochs", "training.seed"}


def test_max_steps_makes_epochs_optional():
    spec, errors = validate_form({**FORM_DEFAULTS, "epochs": None, "max_steps": 10})
    assert errors == [] and spec.training.max_steps == 10


@pytest.mark.parametrize("task", ["classification", "causal-lm", "image-classification"])
def test_spec_to_form_round_trips(task):
    spec = example_spec(task)
    again, errors = form_to_spec(spec_to_form(spec))
    assert errors == []
    assert again.to_dict() == spec.to_dict()


def test_a_cloned_data_parallel_job_keeps_its_devices():
    assert FORM_DEFAULTS["num_devices"] == 1 == RunSpec().training.num_devices
    spec = example_spec("classification")
    spec.training.num_devices = 2
    values = spec_to_form(spec)
    assert values["num_devices"] == 2
    again, errors = validate_form(values)
    assert errors == [] and again.training.num_devices == 2
    assert again.to_dict() == spec.to_dict()
    assert form.section_of("training.num_devices") == "training"
    assert form.FIELD_LABELS["training.num_devices"] == "Devices (GPUs)"


def test_a_cloned_stock_init_job_keeps_its_init():
    spec = example_spec("classification")
    spec.method.neat_init = "kaiming"
    again, errors = form_to_spec(spec_to_form(spec))
    assert errors == [] and again.method.neat_init == "kaiming"


def test_a_cloned_job_keeps_its_test_split():
    spec = example_spec("classification")
    spec.dataset.test_fraction = 0.2
    again, errors = form_to_spec(spec_to_form(spec))
    assert errors == [] and again.dataset.test_fraction == 0.2 and again.dataset.test_source is None
    spec.dataset.test_fraction, spec.dataset.test_source = 0.0, "/data/test.csv"
    again, errors = form_to_spec(spec_to_form(spec))
    assert errors == [] and again.dataset.test_source == "/data/test.csv"


def test_round_trip_of_an_uploaded_dataset(tmp_path):
    spec = example_spec("classification")
    spec.dataset.source = str(tmp_path / "uploads" / "abc-data.csv")
    spec.model.name_or_path = "/models/x"
    spec.training.max_steps = 20
    spec.dataset.max_rows = 100
    values = spec_to_form(spec, uploads_root=tmp_path / "uploads")
    assert values["data_kind"] == form.DATA_UPLOAD and values["model_kind"] == form.MODEL_OTHER
    assert form_to_spec(values)[0].to_dict() == spec.to_dict()


def test_lora_twin_and_equal_budget_rank():
    # NEAT's rate set by hand: the twin must not inherit it
    spec = validate_form({**FORM_DEFAULTS, "depth": 2, "r": 8, "learning_rate": 3e-3})[0]
    twin = form.lora_twin(spec, 10)
    assert twin.method.name == "lora" and twin.method.r == 10 and twin.method.depth == 0
    assert twin.name != spec.name and twin.dataset == spec.dataset and twin.model == spec.model
    # each method at its own defaults: the twin does not inherit NEAT's learning rate
    from neat.engine.defaults import method_defaults

    lora_lr = method_defaults(spec.task, "lora")["training"]["learning_rate"]
    assert twin.training.learning_rate == lora_lr != spec.training.learning_rate
    assert twin.training.epochs == spec.training.epochs and twin.training.seed == spec.training.seed
    assert spec.method.name == "neat"  # the original is untouched
    assert twin.validate()
    # LoRA's count is linear in r: 1,000 params at r=8 -> 1,500 NEAT params need r=12
    assert form.equal_budget_rank(1500, 1000, 8) == 12
    assert form.equal_budget_rank(0, 1000, 8) == 8


def test_yaml_is_the_spec_the_job_runs():
    spec, _ = validate_form({**FORM_DEFAULTS, "r": 4})
    assert RunSpec.from_yaml(spec.to_yaml()) == spec
