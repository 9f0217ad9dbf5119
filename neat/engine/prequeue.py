"""The one check before a run is queued or started: UI Start, `jobs submit`, `neat.train --check`.

`check_run(spec)` reads the model's config (no weights) and the data, and returns what would
make the run fail or train something else than asked, as FieldErrors by spec field, plus
warnings. The dataset part is neat.engine.data_check.check_dataset (the engine runs it again at the
start of every run); this module adds what needs the model: the config loads, every target
module exists, max_length fits the model's positions, and for chat the template leaves room
for responses at max_length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from neat.engine.errors import FieldError, UserError

POSITION_ATTRS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
CHAT_SAMPLE = 500  # conversations measured for the max_length check (a seeded sample)


@dataclass
class PrequeueResult:
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    report: object | None = None  # the DatasetReport when the data could be checked

    @property
    def ok(self) -> bool:
        return not self.errors

    def message(self) -> str:
        return "; ".join(str(e) for e in self.errors)


def check_run(spec, raw=None, load_model: bool = True) -> PrequeueResult:
    """Everything that can be known wrong before training. `raw`: the dataset already loaded.
    `load_model=False` skips what needs the model's config and tokenizer (the app does so for
    models that run their own code: it never loads them in its process)."""
    from neat.engine.data_check import check_dataset

    result = PrequeueResult(errors=list(spec.check()))
    if result.errors:
        return result
    tokenizer = None
    if load_model:
        tokenizer = _check_model(spec, result)
    try:
        result.report = check_dataset(spec, tokenizer=tokenizer, raw=raw)
        result.warnings += result.report.warnings
    except UserError as exc:
        result.errors.append(FieldError("dataset.source", str(exc)))
        return result
    if tokenizer is not None and spec.task == "causal-lm":
        _check_chat_room(spec, tokenizer, raw, result)
    return result


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def _check_model(spec, result: PrequeueResult):
    """Config, positions and target modules; returns the tokenizer (None for images or errors)."""
    from transformers import AutoConfig

    from neat.engine.assets import resolve_model_path
    from neat.engine.loading import load_processor, require_config

    ref = spec.model.name_or_path
    try:
        path, extra = resolve_model_path(ref, spec.model.gguf_file)
        require_config(ref, path, spec.model.gguf_file)
        config = AutoConfig.from_pretrained(path, trust_remote_code=spec.model.trust_remote_code, **extra)
    except (UserError, OSError, ValueError, KeyError) as exc:
        message = str(exc) if isinstance(exc, UserError) else f"could not read its config: {_one_line(exc)}"
        result.errors.append(FieldError("model.name_or_path", message))
        return None
    if spec.task != "image-classification":
        limit = next(
            (getattr(config, a) for a in POSITION_ATTRS if isinstance(getattr(config, a, None), int)), None
        )
        if limit and spec.training.max_length > limit:
            result.errors.append(
                FieldError(
                    "training.max_length",
                    f"is {spec.training.max_length:,} but the model reads at most {limit:,} tokens "
                    f"({type(config).__name__}); use {limit:,} or less",
                )
            )
    method = spec.method
    if method.name == "neat" or (method.name != "full" and method.target_modules):
        _check_targets(spec, result)
    if spec.task == "image-classification":
        return None
    try:
        return load_processor(spec)
    except UserError as exc:
        result.errors.append(FieldError("model.name_or_path", str(exc)))
        return None


def _check_targets(spec, result: PrequeueResult) -> None:
    """Every target names linear layers (PEFT matches a name or a dotted suffix); a typo would
    otherwise be dropped silently when another target matches. NEAT on a layer that narrows
    (in > out) gets a warning: see narrowing_warnings."""
    from neat.engine.budget import default_targets, describe_linear_modules

    m = spec.model
    try:
        modules = describe_linear_modules(m.name_or_path, spec.task, m.trust_remote_code)
        if spec.method.name == "neat":
            targets = spec.method.target_modules or default_targets(
                m.name_or_path, spec.task, m.trust_remote_code
            )
            result.warnings += narrowing_warnings(modules, targets)
    except (UserError, OSError, ValueError, KeyError, RuntimeError) as exc:
        result.warnings.append(f"could not list the model's layers to check target_modules: {_one_line(exc)}")
        return
    if not spec.method.target_modules:
        return
    names = [name for name, _, _ in modules]
    missing = [t for t in spec.method.target_modules if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        kinds = list(dict.fromkeys(re.sub(r"^.*\.\d+\.", "", n) for n in names))
        result.errors.append(
            FieldError(
                "method.target_modules",
                f"no linear layer named {', '.join(repr(m) for m in missing)} in this model; "
                f"its linear layers are: {', '.join(kinds)}",
            )
        )


def narrowing_warnings(modules: list[tuple[str, int, int]], targets: list[str]) -> list[str]:
    """A warning per targeted layer kind that maps more inputs to fewer outputs (in > out).

    NEAT's update is dW = B act(A W0): its input side is built from W0's rows, so on a
    narrowing layer (a grouped-query k/v projection, a down projection) it reaches little
    beyond the `out` input directions W0 already reads, where LoRA's free A reaches all `in`.
    """
    shapes: dict[str, tuple[int, int]] = {}
    for name, n_in, n_out in modules:
        kind = next((t for t in targets if name == t or name.endswith("." + t)), None)
        if kind is not None and n_in > n_out:
            shapes.setdefault(kind, (n_in, n_out))
    return [
        f"NEAT on {kind} ({n_in:,} -> {n_out:,} features): NEAT builds its update from the frozen "
        f"weight's {n_out:,} rows, so it can change little of how the layer reads the other "
        f"{n_in - n_out:,} input directions (LoRA reaches all of them). On such layers NEAT trailed "
        "LoRA in the quality suite (benchmarks/RESULTS.md); layers that keep or widen their size "
        "(q_proj, o_proj, up_proj) do not have this limit"
        for kind, (n_in, n_out) in shapes.items()
    ]


def _check_chat_room(spec, tokenizer, raw, result: PrequeueResult) -> None:
    """Encode conversations as the engine will: rows whose responses fall entirely past
    max_length train nothing (all of them: an error; some: a warning with the count)."""
    import numpy as np

    from neat.engine.data import load_raw
    from neat.engine.data_check import chat_rows
    from neat.engine.tasks import encode_conversation

    max_length = spec.training.max_length
    empty_chat = [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]
    overhead = sum(t == -100 for t in encode_conversation(tokenizer, empty_chat, 10**6)["labels"])
    if overhead >= max_length:
        result.errors.append(
            FieldError(
                "training.max_length",
                f"is {max_length} but the chat template alone takes {overhead} tokens, leaving no room "
                "for responses; raise training.max_length",
            )
        )
        return
    ds = raw if raw is not None else load_raw(spec.dataset.source, spec.dataset.hub_split)
    n = len(ds)
    rows = list(range(n))
    if n > CHAT_SAMPLE:
        rows = sorted(np.random.default_rng(0).choice(n, CHAT_SAMPLE, replace=False).tolist())
    chats = chat_rows(ds, spec, rows)
    cut = sum(
        not any(t != -100 for t in encode_conversation(tokenizer, chat, max_length)["labels"])
        for chat in chats
    )
    if cut == len(chats):
        result.errors.append(
            FieldError(
                "training.max_length",
                f"is {max_length}: no response token fits after the prompt and the chat template in any "
                "row; raise training.max_length or shorten the prompts",
            )
        )
    elif cut:
        share = cut / len(chats)
        result.warnings.append(
            f"{share:.0%} of conversations ({cut} of {len(chats)} checked) have no response token within "
            f"max_length={max_length}; they will be skipped"
        )
