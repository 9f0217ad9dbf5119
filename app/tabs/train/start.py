"""Start: plan the run(s) the form describes (the spec, and its LoRA twin at an equal
parameter budget when asked), and queue them; nothing is queued while any field is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

from app import access, backend, caches
from app.backend import FieldError, RunSpec, SpecError, UserError
from app.tabs.train import sweep
from app.tabs.train.assistants import check_data, check_model_ref
from app.tabs.train.form import equal_budget_rank, lora_twin, validate_form


@dataclass
class StartResult:
    errors: list[FieldError] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    message: str = ""
    specs: list[RunSpec] = field(default_factory=list)


def runs_for(values: dict, spec: RunSpec) -> list[RunSpec]:
    """The spec, and its LoRA twin at an equal parameter budget when the form asks to compare;
    a sweep's runs when the form lists values or several seeds (app/tabs/train/sweep.py;
    raises SpecError when that sweep cannot be queued)."""
    if sweep.requested(values):
        return sweep.plan(values, spec, twin_of)
    if not (values.get("compare_lora") and spec.method.name == "neat"):
        return [spec]
    return [spec, twin_of(spec)]


def twin_of(spec: RunSpec) -> RunSpec:
    """The LoRA twin of a NEAT run at the rank whose parameter count is closest to NEAT's."""
    lora_r = spec.method.r
    try:
        counts = backend.param_budget(
            spec.model.name_or_path,
            spec.task,
            {
                "name": "neat",
                "r": spec.method.r,
                "depth": spec.method.depth,
                "target_modules": spec.method.target_modules,
            },
            trust_remote_code=spec.model.trust_remote_code,
        )
        lora_r = equal_budget_rank(counts["neat"], counts["lora"], spec.method.r)
    except Exception:  # noqa: BLE001 - the model cannot be described: the same rank
        pass
    return lora_twin(spec, lora_r)


def planned_runs(values: dict) -> list[RunSpec]:
    """What Start would queue from the form's values alone (no data or model check), for the
    Sweep accordion's size line; raises SpecError."""
    spec, errors = validate_form(values)
    if errors:
        raise SpecError([FieldError(sweep.SWEEP_FIELD, "fix the form's errors to see the sweep")])
    return runs_for(values, spec)


def specs_yaml(specs: list[RunSpec]) -> str:
    """One YAML document per job that Start would queue."""
    if len(specs) == 1:
        return specs[0].to_yaml()
    return "\n---\n".join(f"# job {i} of {len(specs)}\n{s.to_yaml()}" for i, s in enumerate(specs, 1))


def plan_runs(values: dict) -> StartResult:
    """Validate everything and return the spec(s) to queue, or the errors; queues nothing."""
    spec, errors = validate_form(values)
    errors += [
        e for e in check_model_ref(spec.model.name_or_path) if e.field not in {x.field for x in errors}
    ]
    errors += [e for e in access.spec_problems(spec) if e.field not in {x.field for x in errors}]
    if not any(e.field.startswith("dataset.") for e in errors):
        _, data_errors = check_data(values)
        errors += data_errors
    if not errors:  # the pre-queue check `jobs submit` and `neat.train --check` run too
        errors += prequeue_errors(spec)
    if errors:
        return StartResult(
            errors=errors, message=f"Nothing was queued: {len(errors)} problem(s) to fix above."
        )
    try:
        specs = runs_for(values, spec)
    except SpecError as exc:
        return StartResult(errors=list(exc.errors), message="Nothing was queued: the sweep cannot be queued.")
    return StartResult(specs=specs)


def prequeue_errors(spec: RunSpec) -> list[FieldError]:
    """The engine's pre-queue check on the cached data; models with their own code are not loaded here."""
    raw = caches.raw_dataset(spec.dataset.source, spec.dataset.hub_split)
    return backend.prequeue_problems(spec, raw=raw)


def start(values: dict, viewer=None) -> StartResult:
    """Queue the form's run(s) as `viewer`'s (an app.access.Viewer; None: no request)."""
    plan = plan_runs(values)
    if plan.errors:
        return plan
    try:
        if len(plan.specs) > 1:
            ids = backend.submit_many(plan.specs, sweep.group_name(plan.specs[0], plan.specs, values), viewer)
        else:
            ids = [backend.submit(plan.specs[0], viewer)]
    except UserError as exc:
        return StartResult(errors=[FieldError("spec", str(exc))], message="Nothing was queued.")
    if len(ids) > 4:
        return StartResult(
            job_ids=ids,
            specs=plan.specs,
            message=f"✓ Queued a sweep of {len(ids)} runs (#{ids[0]}–#{ids[-1]}). Follow it in the Jobs tab.",
        )
    return StartResult(job_ids=ids, specs=plan.specs, message=queued_message(ids, plan.specs))


def queued_message(ids: list[int], specs: list[RunSpec]) -> str:
    """What Start says, naming each job it queued (a later Start replaces it)."""
    jobs = " and ".join(f"job #{i} ({s.name}, {s.method.name})" for i, s in zip(ids, specs))
    return f"✓ Queued {jobs}. Follow {'them' if len(ids) > 1 else 'it'} in the Jobs tab."
