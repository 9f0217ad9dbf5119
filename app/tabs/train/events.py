"""The Train tab's events: which inputs show, the assistants on every change, upload,
presets, Show YAML, and keeping the form across page reloads. Start and Clone cross tabs:
they are wired in app/ui.py."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from app import backend, config
from app.backend import FieldError, UserError
from app.tabs.train import sweep
from app.tabs.train.assistants import (
    budget_markdown,
    check_data,
    dataset_summary,
    mapped_columns,
    model_summary,
    report_markdown,
    suggest_task_for_model,
)
from app.tabs.train.form import (
    COLUMN_KEYS,
    DATA_BUILTIN,
    DATA_OTHER,
    DATA_UPLOAD,
    FORM_DEFAULTS,
    FORM_KEYS,
    MODEL_EMBEDDED,
    NO_COLUMN,
    OPTIONAL_COLUMNS,
    SECTIONS,
    TASK_COLUMNS,
    dataset_ref,
    errors_by_section,
    format_errors,
    model_ref,
    validate_form,
)
from app.tabs.train.layout import TrainTab, values_of
from app.tabs.train.method_rates import FOLLOWED, follow_method_defaults
from app.tabs.train.prepare import preparing
from app.tabs.train.presets import apply_preset
from app.tabs.train.start import planned_runs, runs_for, specs_yaml
from app.uploads import UploadError, store_upload


def _visibility(values: dict) -> dict:
    """Which inputs show for the chosen sources, task and method."""
    task = values.get("task") or "classification"
    method = values.get("method") or "neat"
    kind = values.get("data_kind")
    vis = {
        "model_embedded": values.get("model_kind") == MODEL_EMBEDDED,
        "model_path": values.get("model_kind") != MODEL_EMBEDDED,
        "data_builtin": kind == DATA_BUILTIN,
        "data_upload": kind == DATA_UPLOAD,
        "data_ref": kind == DATA_OTHER,
        "hub_split": kind == DATA_OTHER,
        "r": method != "full",
        "depth": method == "neat",
        "act_fn": method == "neat",
        "scaling": method == "neat",
        "neat_init": method == "neat",
        "lora_alpha": method == "lora",
        "target_modules": method != "full",
        "compare_lora": method == "neat",
    }
    for key in COLUMN_KEYS:
        vis[key] = key in TASK_COLUMNS.get(task, ())
    return vis


def wire(tab: TrainTab) -> None:
    """The tab's own events: visibility, model and data assistants, upload, presets, YAML."""
    preset_buttons, yaml_btn = tab.preset_buttons, tab.yaml_btn
    f = tab.form
    inputs = tab.inputs()
    vis_keys = list(_visibility(FORM_DEFAULTS))
    vis_outputs = [f[k] for k in vis_keys] + [tab.upload]

    vis_inputs = [f[k] for k in ("model_kind", "data_kind", "task", "method")]

    def show(model_kind, data_kind, task, method):
        vis = _visibility({"model_kind": model_kind, "data_kind": data_kind, "task": task, "method": method})
        return [gr.update(visible=vis[k]) for k in vis_keys] + [gr.update(visible=vis["data_upload"])]

    for key in ("model_kind", "data_kind", "task", "method"):
        f[key].change(show, vis_inputs, vis_outputs, show_progress="hidden", queue=False)

    # -- the method's own numbers follow the method and the task (app/tabs/train/method_rates.py)
    # `pair` is the (method, task) the numbers were last matched to: they move only when it
    # changes, so a data pick never resets a rate the user set for the same method and task
    pair = gr.State((FORM_DEFAULTS["method"], FORM_DEFAULTS["task"]))
    follow_keys = list(FOLLOWED)
    follow_outputs = [*(f[k] for k in follow_keys), tab.extra["preset_note"], pair]

    def on_method_or_task(last, *args):
        values = values_of(args)
        now = (values["method"], values["task"])
        if tuple(last or ()) == now:
            return [gr.skip()] * (len(follow_keys) + 1) + [now]
        changes, note = follow_method_defaults(values)
        return [changes.get(k, gr.skip()) for k in follow_keys] + [note or gr.skip(), now]

    def follow(dependency):
        return dependency.then(on_method_or_task, [pair, *inputs], follow_outputs, show_progress="hidden")

    for key in ("method", "task"):
        f[key].input(on_method_or_task, [pair, *inputs], follow_outputs, show_progress="hidden")
    tab.extra["follow_pair"] = pair

    # -- model -> task, target modules, info, budget
    def model_handler(keep_task: bool):
        """keep_task: the form's task stays (a cloned or restored form); else the model suggests it."""

        def handler(*args):
            values = values_of(args)
            for line in preparing(model_ref(values)):  # SmolLM2's one-time conversion, counted
                yield {tab.model_info: line}
            yield on_model(values, keep_task)

        return handler

    def on_model(values, keep_task=False):
        s = model_summary(values)
        task = values["task"] if keep_task else (s["task"] or values["task"])
        values.update(task=task, target_modules=s["targets_value"])
        return {
            f["task"]: gr.update(value=task),
            f["target_modules"]: gr.update(choices=s["targets"], value=s["targets_value"]),
            tab.model_info: s["info"],
            tab.errors["model"]: format_errors(s["errors"]),
            tab.budget: budget_markdown(values),
        }

    model_outputs = [f["task"], f["target_modules"], tab.model_info, tab.errors["model"], tab.budget]

    # -- budget, live
    def on_budget(*args):
        return budget_markdown(values_of(args))

    for key in ("method", "r", "depth", "target_modules", "task"):
        changed(f, key)(on_budget, inputs, tab.budget, show_progress="hidden", trigger_mode="always_last")

    # -- data -> preview, columns, task suggestion, check
    column_outputs = [f[k] for k in COLUMN_KEYS]
    data_outputs = [tab.preview, tab.errors["dataset"], tab.report, f["task"], *column_outputs]

    def data_handler(keep_task: bool):
        """keep_task: the task the form holds stays (chosen by hand, cloned or restored)."""

        def handler(*args):
            return on_data(values_of(args), keep_task)

        return handler

    def on_data(values, keep_task=False):
        if not dataset_ref(values):  # nothing chosen yet (e.g. Upload picked): no error, no preview
            return {
                tab.preview: gr.update(value=None, visible=False),
                tab.errors["dataset"]: "",
                tab.report: "",
            }
        try:
            s = dataset_summary(values)
        except UserError as exc:
            return {
                tab.preview: gr.update(value=None, visible=False),
                tab.errors["dataset"]: format_errors([FieldError("dataset.source", str(exc))]),
                tab.report: "",
            }
        except Exception as exc:  # noqa: BLE001
            return {
                tab.preview: gr.update(value=None, visible=False),
                tab.errors["dataset"]: format_errors(
                    [FieldError("dataset.source", backend.user_message(exc))]
                ),
                tab.report: "",
            }
        model_task = suggest_task_for_model(model_ref(values))
        task = values["task"] if keep_task else (model_task or s["task"] or values["task"])
        values["task"] = task
        mapping = mapped_columns(values, s["columns"], s["suggest"])
        values.update(mapping)
        report, data_errors = check_data(values)
        out = {
            tab.preview: gr.update(
                value=s["preview"], label=f"Preview (first rows of {s['rows']:,})", visible=True
            ),
            tab.errors["dataset"]: format_errors(data_errors),
            tab.report: report_markdown(report),
            f["task"]: gr.update(value=task),
        }
        for key in COLUMN_KEYS:
            choices = ([NO_COLUMN] if key in OPTIONAL_COLUMNS else []) + s["columns"]
            out[f[key]] = gr.update(choices=choices, value=mapping[key])
        return out

    data_events = [f[k].input for k in ("data_kind", "data_builtin")]
    data_events += [f[k].submit for k in ("data_ref", "hub_split")] + [
        f[k].blur for k in ("data_ref", "hub_split")
    ]
    for event in data_events:
        follow(
            event(
                data_handler(False),
                inputs,
                data_outputs,
                trigger_mode="always_last",
                show_progress_on=[tab.report],
            )
        )
    # -- a model picked by hand: describe it, then re-map and check the data for its task
    # user events only: a form set by a preset, a clone or a reload is refreshed by refresh_after,
    # which keeps its task (a .change here would race it and re-suggest the task)
    model_events = [f[k].input for k in ("model_kind", "model_embedded", "trust_remote_code")]
    for event in [*model_events, f["model_path"].submit, f["model_path"].blur]:
        # the model may switch the task: then map the columns for it and check the data again
        follow(
            event(
                model_handler(False),
                inputs,
                model_outputs,
                trigger_mode="always_last",
                show_progress_on=[tab.model_info],
            ).then(data_handler(True), inputs, data_outputs, show_progress_on=[tab.report])
        )

    # the task chosen by hand: map the columns for it (and keep it)
    f["task"].input(
        data_handler(True), inputs, data_outputs, trigger_mode="always_last", show_progress_on=[tab.report]
    )

    # -- a column or the task changed by hand: check again (the preview stays)
    def on_columns(*args):
        values = values_of(args)
        if not dataset_ref(values):
            return {tab.errors["dataset"]: "", tab.report: ""}
        report, data_errors = check_data(values)
        return {tab.errors["dataset"]: format_errors(data_errors), tab.report: report_markdown(report)}

    for key in (*COLUMN_KEYS, "validation_source", "test_source", "max_length"):  # max_length: what is cut
        f[key].input(
            on_columns,
            inputs,
            [tab.errors["dataset"], tab.report],
            trigger_mode="always_last",
            show_progress_on=[tab.report],
        )

    # -- upload: sanitise, size-limit, store under NEAT_HOME/uploads; errors right under the field
    def on_upload(file, *args):
        if not file:  # cleared: forget the stored file too
            return {
                f["data_upload"]: "",
                tab.errors["dataset"]: "",
                tab.preview: gr.update(value=None, visible=False),
                tab.report: "",
            }
        path = file if isinstance(file, str) else getattr(file, "name", str(file))
        original = getattr(file, "orig_name", None) or Path(path).name
        try:
            stored = store_upload(path, original)
        except UploadError as exc:
            return {
                f["data_upload"]: "",
                tab.errors["dataset"]: format_errors([FieldError("dataset.source", str(exc))]),
                tab.preview: gr.update(value=None, visible=False),
                tab.report: "",
            }
        values = values_of(args)
        values.update(data_kind=DATA_UPLOAD, data_upload=str(stored))
        return {f["data_upload"]: str(stored), **on_data(values)}

    follow(
        tab.upload.upload(
            on_upload,
            [tab.upload, *inputs],
            [f["data_upload"], *data_outputs],
            show_progress_on=[tab.report],
        )
    )
    # cleared, or a new file picked (clicked by the page script in app/ui.py before the browser
    # uploads it, or refuses it as too large): nothing stays stored for Start to train on
    tab.upload.clear(on_upload, [tab.upload, *inputs], [f["data_upload"], *data_outputs])
    forget = gr.Button("forget upload", elem_id="forget-upload", elem_classes=["hidden-control"])
    forget.click(lambda: "", None, f["data_upload"], queue=False, show_progress="hidden")
    tab.extra["forget_upload"] = forget

    # -- presets
    def on_preset(name):
        def handler(*args):
            values, note = apply_preset(name, values_of(args))
            return [values[k] for k in FORM_KEYS] + [note]

        return handler

    # -- YAML and Start
    def current_yaml(values) -> tuple[str, list[FieldError]]:
        spec, errors = validate_form(values)
        try:
            specs = [spec] if errors else runs_for(values, spec)
        except backend.SpecError as exc:  # a sweep that cannot be queued: show why, and the spec
            specs, errors = [spec], list(exc.errors)
        return specs_yaml(specs), errors

    def on_yaml(*args):
        text, errors = current_yaml(values_of(args))
        out = {tab.yaml: gr.update(value=text, visible=True), yaml_shown: True}
        out.update(error_outputs(tab, errors))
        return out

    yaml_shown = gr.State(False)
    yaml_btn.click(on_yaml, inputs, [tab.yaml, yaml_shown, *tab.errors.values()], show_progress="hidden")
    sweep.wire(tab, planned_runs)

    # once shown, the YAML follows the form (an upload, a preset, a clone): never a stale spec
    def follow_yaml(shown, *args):
        return current_yaml(values_of(args))[0] if shown else gr.skip()

    gr.on(
        # the model summary changes with the targets the model handler sets (see `changed`)
        [*(changed(f, k) for k in FORM_KEYS), tab.model_info.change],
        follow_yaml,
        [yaml_shown, *inputs],
        tab.yaml,
        trigger_mode="always_last",
        show_progress="hidden",
    )
    tab.extra.update(
        keep_task_model=model_handler(True),
        model_outputs=model_outputs,
        keep_task_data=data_handler(True),
        data_outputs=data_outputs,
    )
    for name, button in preset_buttons.items():
        outputs = [*inputs, tab.extra["preset_note"]]
        refresh_after(button.click(on_preset(name), inputs, outputs, show_progress="hidden"), tab)


FORM_STORAGE_KEY = "neat-studio-train-form"


# A multiselect dropdown's .change fires again after every event that reads it (Gradio 6.31), so
# a .change handler that reads the whole form loops forever and keeps a browser core busy. Its
# handlers listen to the user's edits (.input) instead; the model handler that sets it
# programmatically updates the budget itself and changes the model summary, which the YAML follows.
USER_EDITS_ONLY = ("target_modules",)


def changed(form: dict, key: str):
    """The event that says form field `key` changed (an EventListener: call it to attach)."""
    return form[key].input if key in USER_EDITS_ONLY else form[key].change


def refresh_after(dependency, tab: TrainTab):
    """After the form was set programmatically: describe the model, then read the data."""
    e = tab.extra
    return (
        dependency.then(
            e["keep_task_model"], tab.inputs(), e["model_outputs"], show_progress_on=[tab.model_info]
        )
        .then(e["keep_task_data"], tab.inputs(), e["data_outputs"], show_progress_on=[tab.report])
        # the form's numbers were set with it (a clone, a reload, a preset): they are matched to
        # its method and task as they stand
        .then(
            lambda method, task: (method, task),
            [tab.form["method"], tab.form["task"]],
            e["follow_pair"],
            show_progress="hidden",
        )
    )


def wire_load(demo: gr.Blocks, tab: TrainTab) -> None:
    """Keep the form across page reloads (in the browser's local storage) and, when a page
    opens, restore it, describe the model and read the dataset."""
    store = gr.BrowserState(None, storage_key=FORM_STORAGE_KEY, secret=config.browser_secret())

    def restore(saved):
        if not isinstance(saved, dict) or not saved:
            return [gr.skip()] * len(FORM_KEYS)
        values = {**FORM_DEFAULTS, **{k: v for k, v in saved.items() if k in FORM_DEFAULTS}}
        return form_updates(values, tab)

    refresh_after(demo.load(restore, [store], tab.inputs(), show_progress="hidden"), tab)

    # saved in the browser itself (no round trip): {form key: value}
    keys = json.dumps(list(FORM_KEYS))
    gr.on(
        [tab.form[k].change for k in FORM_KEYS],
        None,
        tab.inputs(),
        store,
        js=f"(...values) => Object.fromEntries({keys}.map((key, i) => [key, values[i]]))",
        show_progress="hidden",
    )


def error_outputs(tab: TrainTab, errors: list[FieldError]) -> dict:
    """Each section's error box, showing the errors of its fields."""
    grouped = errors_by_section(errors)
    return {tab.errors[s]: format_errors(grouped[s]) for s in SECTIONS}


def form_updates(values: dict, tab: TrainTab) -> dict:
    """Set every form field (Clone into the Train form); the model/data handlers then refresh."""
    out = {tab.form[k]: gr.update(value=values[k]) for k in FORM_KEYS}
    # make sure a value that is not among the current choices can be shown
    for key in COLUMN_KEYS:
        choices = [NO_COLUMN] if key in OPTIONAL_COLUMNS or not values[key] else []
        if values[key]:
            choices.append(values[key])
        out[tab.form[key]] = gr.update(value=values[key], choices=choices)
    out[tab.form["target_modules"]] = gr.update(
        value=values["target_modules"], choices=list(values["target_modules"] or [])
    )
    return out
