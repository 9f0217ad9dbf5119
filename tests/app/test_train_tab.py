"""The Train tab's logic on a real (tiny, local) model, real files and the real job store."""

from __future__ import annotations

import pytest

from app import backend, caches
from app.tabs.train import assistants, form, start
from app.uploads import store_upload
from neat.engine.spec import RunSpec


def _values(tiny_model, data_path, **extra):
    return {
        **form.FORM_DEFAULTS,
        "model_kind": form.MODEL_OTHER,
        "model_path": str(tiny_model),
        "data_kind": form.DATA_UPLOAD,
        "data_upload": str(data_path),
        "col_text": "review",
        "col_label": "sentiment",
        "max_steps": 4,
        "batch_size": 4,
        "max_length": 32,
        **extra,
    }


def test_task_is_suggested_from_the_model(tiny_model):
    assert backend.model_task(str(tiny_model)) == "classification"
    assert backend.model_task("embedded:smollm2") == "causal-lm"
    assert backend.model_task("embedded:vit-tiny") == "image-classification"
    assert backend.model_task("some/hub-id") is None


def test_model_reference_errors(tmp_path, tiny_model):
    assert assistants.check_model_ref(str(tiny_model)) == []
    assert assistants.check_model_ref("embedded:minilm") == []
    assert assistants.check_model_ref("org/some-model") == []  # a hub id: cannot be told wrong offline
    [missing] = assistants.check_model_ref(str(tmp_path / "nope"))
    assert missing.field == "model.name_or_path" and "not found" in missing.message
    [no_config] = assistants.check_model_ref(str(tmp_path))
    assert "config.json" in no_config.message
    assert assistants.check_model_ref("")[0].field == "model.name_or_path"


def test_target_modules_come_from_the_models_own_linear_layers(tiny_model):
    summary = assistants.model_summary(
        {**form.FORM_DEFAULTS, "model_kind": form.MODEL_OTHER, "model_path": str(tiny_model)}
    )
    assert summary["errors"] == [] and summary["task"] == "classification"
    assert {"query", "key", "value", "intermediate.dense"} <= set(summary["targets"])
    assert "classifier" not in summary["targets"]
    assert summary["targets_value"] == ["query", "value"]  # BERT's defaults


def test_module_choices_pick_short_unambiguous_names():
    modules = [
        (f"encoder.layer.{i}.{name}", 4, 4)
        for i in range(2)
        for name in ("attention.self.query", "attention.output.dense", "output.dense")
    ]
    modules.append(("classifier", 4, 2))
    assert backend.module_choices(modules) == ["query", "attention.output.dense", "output.dense"]


def test_budget_shows_neat_next_to_lora_at_the_same_rank(tiny_model):
    values = {
        **form.FORM_DEFAULTS,
        "model_kind": form.MODEL_OTHER,
        "model_path": str(tiny_model),
        "target_modules": ["query", "value"],
        "r": 4,
        "depth": 0,
    }
    text = assistants.budget_markdown(values)
    # 2 layers x 2 modules, hidden 32: NEAT depth 0 = 2*r*out = 256 per module; LoRA r*(in+out) = 256
    assert "NEAT (r=4, depth 0): **1,024**" in text and "LoRA at r=4: 1,024" in text
    deeper = assistants.budget_markdown({**values, "depth": 1})
    assert "NEAT (r=4, depth 1): **1,152**" in deeper  # + 2*depth*r*r per module
    assert "equal budget: r=4" in text
    from transformers import AutoModelForSequenceClassification

    real = AutoModelForSequenceClassification.from_pretrained(tiny_model)
    full = sum(p.numel() for p in real.parameters())
    counts = backend.param_budget(str(tiny_model), "classification", {"r": 4, "target_modules": ["query"]})
    assert counts["full"] == full and counts["head"] == 32 * 2 + 2
    assert counts["neat"] == 2 * 256  # 2 layers x 1 module
    assert "the task head adds 66" in text
    assert "rank must be" in assistants.budget_markdown({**values, "r": 0})
    # the fit check's sentence sits under the counts, before anything is launched
    assert "**Fit check** — needs about " in text and "GiB of RAM" in text
    # and what the quality suite measured at the defaults for the form's task, under it
    assert text.endswith(backend.defaults_evidence("classification"))
    chat = assistants.budget_markdown({**values, "task": "causal-lm"})
    assert backend.defaults_evidence("causal-lm") in chat
    assert backend.defaults_evidence("classification") not in chat


def test_budget_notes_neats_limit_on_a_narrowing_layer(tmp_path):
    from tests.tiny_runs import tiny_llama_folder

    llama = tiny_llama_folder(tmp_path / "llama")  # grouped-query attention: v_proj 32 -> 16
    values = {
        **form.FORM_DEFAULTS,
        "model_kind": form.MODEL_OTHER,
        "model_path": str(llama),
        "task": "causal-lm",
        "target_modules": ["q_proj", "v_proj"],
    }
    text = assistants.budget_markdown(values)
    assert "**Note:** NEAT on v_proj (32 -> 16 features)" in text and "q_proj (" not in text
    assert "**Note:**" not in assistants.budget_markdown({**values, "method": "lora"})
    assert "**Note:**" not in assistants.budget_markdown({**values, "target_modules": ["q_proj", "o_proj"]})


def test_dataset_preview_columns_and_mapping(tiny_model, reviews_csv):
    summary = assistants.dataset_summary(_values(tiny_model, reviews_csv, col_text="text", col_label="label"))
    assert summary["columns"] == ["review", "sentiment"] and summary["rows"] == 40
    assert list(summary["preview"].columns) == ["review", "sentiment"]
    mapping = assistants.mapped_columns(
        {"col_text": "text", "col_label": "label"}, summary["columns"], summary["suggest"]
    )
    assert mapping["col_text"] == "review" and mapping["col_label"] == "sentiment"
    assert mapping["col_text_pair"] == form.NO_COLUMN


def test_broken_csv_is_reported_on_the_dataset_field(tiny_model, broken_csv):
    values = _values(tiny_model, broken_csv, col_text="text", col_label="label")
    with pytest.raises(Exception, match="Expected 2 fields"):
        assistants.dataset_summary(values)
    report, errors = assistants.check_data(values)
    assert report is None
    assert [e.field for e in errors] == ["dataset.source"] and "Expected 2 fields" in errors[0].message


def test_missing_column_is_reported(tiny_model, reviews_csv):
    report, errors = assistants.check_data(_values(tiny_model, reviews_csv, col_label="stars"))
    assert report is None and "stars" in errors[0].message


def test_nothing_is_queued_when_the_form_has_errors(neat_home, tiny_model, reviews_csv):
    result = start.start(_values(tiny_model, reviews_csv, r=0, learning_rate=3))
    assert {e.field for e in result.errors} == {"method.r", "training.learning_rate"}
    result = start.start(_values(tiny_model, reviews_csv, col_label="stars"))
    assert [e.field for e in result.errors] == ["dataset.source"]
    result = start.start(_values(tiny_model.parent / "missing-model", reviews_csv))
    assert [e.field for e in result.errors] == ["model.name_or_path"]
    for devices in (0, 17):  # 1 to 16 devices
        result = start.start(_values(tiny_model, reviews_csv, num_devices=devices))
        assert [e.field for e in result.errors] == ["training.num_devices"]
        shown = form.format_errors(form.errors_by_section(result.errors)["training"])
        assert "**Devices (GPUs)** (`training.num_devices`)" in shown
    assert backend.list_jobs() == [] and "Nothing was queued" in result.message


def test_compare_with_lora_queues_both_at_equal_budget(neat_home, tiny_model, reviews_csv):
    result = start.start(
        _values(
            tiny_model,
            reviews_csv,
            compare_lora=True,
            r=4,
            depth=2,
            target_modules=["query", "value"],
            learning_rate=3e-3,  # NEAT's rate, set by hand: the twin must not inherit it
        )
    )
    assert result.errors == [] and len(result.job_ids) == 2
    jobs = [backend.get_job(i) for i in result.job_ids]
    assert jobs[0]["sweep_id"] is not None and jobs[0]["sweep_id"] == jobs[1]["sweep_id"]
    neat, lora = (RunSpec.from_dict(job["spec"]) for job in jobs)
    assert (neat.method.name, lora.method.name) == ("neat", "lora")
    # NEAT r=4 depth 2: 4 modules x (2*4*32 + 2*2*4*4) = 1,280 params = LoRA (4*64 per module) at r=5
    assert lora.method.r == 5
    assert lora.dataset == neat.dataset and lora.model == neat.model
    # each method at its own defaults: LoRA's learning rate is LoRA's, the rest is shared
    from neat.engine.defaults import method_defaults

    lora_lr = method_defaults("classification", "lora")["training"]["learning_rate"]
    assert neat.training.learning_rate == 3e-3 and lora.training.learning_rate == lora_lr != 3e-3
    assert lora.training.epochs == neat.training.epochs and lora.training.seed == neat.training.seed


def test_start_queues_the_exact_spec_in_the_real_store(neat_home, tiny_model, reviews_csv):
    from jobs import api

    stored = store_upload(reviews_csv, "reviews.csv")
    values = _values(tiny_model, stored, name="ui-test")
    result = start.start(values)
    assert result.errors == [], result.errors
    [job_id] = result.job_ids
    job = api.get_job(job_id)
    assert job["status"] == "queued" and job["name"] == "ui-test"
    assert RunSpec.from_dict(job["spec"]) == form.validate_form(values)[0]
    assert RunSpec.from_dict(job["spec"]).dataset.source == str(stored)
    rows = backend.list_jobs()
    assert [r["id"] for r in rows] == [job_id]


def test_predictor_cache_loads_each_run_once_and_keeps_a_few(tmp_path):
    loads = []
    cache = caches.PredictorCache(capacity=2, loader=lambda folder: loads.append(folder) or object())
    a, b, c = (tmp_path / n for n in "abc")
    first = cache.get(a)
    assert cache.get(a) is first and len(loads) == 1
    cache.get(b)
    cache.get(c)  # evicts a, the least recently used
    assert a not in cache and b in cache and c in cache
    cache.get(a)
    assert len(loads) == 4


def test_an_untyped_model_or_dataset_is_a_hint_not_an_error():
    summary = assistants.model_summary(
        {**form.FORM_DEFAULTS, "model_kind": form.MODEL_OTHER, "model_path": ""}
    )
    assert summary["errors"] == [] and "Type a model folder" in summary["info"]
    # Start still refuses it, next to the model field
    _, errors = form.validate_form({**form.FORM_DEFAULTS, "model_kind": form.MODEL_OTHER, "model_path": ""})
    assert [e.field for e in errors] == ["model.name_or_path"]


def test_yaml_shows_every_job_start_would_queue(tiny_model, reviews_csv):
    import yaml

    values = _values(
        tiny_model, reviews_csv, compare_lora=True, r=4, depth=2, target_modules=["query", "value"]
    )
    spec, errors = form.validate_form(values)
    assert errors == []
    text = start.specs_yaml(start.runs_for(values, spec))
    docs = [RunSpec.from_dict(d) for d in yaml.safe_load_all(text)]
    assert [d.method.name for d in docs] == ["neat", "lora"] and docs[0] == spec and docs[1].method.r == 5
    assert start.specs_yaml([spec]) == spec.to_yaml()
