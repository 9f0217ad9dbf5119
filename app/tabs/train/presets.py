"""The Train form's presets: each one is a full setting of the fields it owns, and says what
it changed.

A preset owns a fixed set of form fields and sets every one of them, so pressing NEAT-S after
the quick demo does not keep the demo's 60 steps, 1,200 rows or 64 tokens; fields it does not
own (model, data, seed, precision... for NEAT-S and NEAT-L) stay as they are. The quick demo's
values come from the engine (neat/engine/defaults.py, QUICK_DEMO), their one owner.
"""

from __future__ import annotations

from typing import Any

from app import backend
from app.tabs.train.form import FIELD_BY_KEY, FORM_DEFAULTS, spec_to_form

# How long the quick demo takes: benchmarks/quick_demo_time.py, benchmarks/RESULTS.md
# ("Quick CPU demo time": 26-32 s on an idle 2-core CPU).
QUICK_DEMO_TIME = "under a minute on an idle 2-core CPU (longer when other work shares it)"

# What NEAT-S and NEAT-L are about: the method and how long and how it trains.
TRAINING_KEYS = (
    "method",
    "r",
    "depth",
    "act_fn",
    "scaling",
    "neat_init",
    "lora_alpha",
    "epochs",
    "max_steps",
    "max_rows",
    "batch_size",
    "grad_accum",
    "max_length",
    "learning_rate",
    "head_learning_rate",
    "warmup_ratio",
    "weight_decay",
    "eval_steps",
    "logging_steps",
)
# The quick demo is a whole run: model, data and columns too.
DEMO_KEYS = (
    "name",
    "model_kind",
    "model_embedded",
    "task",
    "data_kind",
    "data_builtin",
    "col_text",
    "col_text_pair",
    "col_label",
    "col_messages",
    "validation_fraction",
    "test_fraction",
    "test_source",
    "target_modules",
    "precision",
    "num_devices",  # the demo runs on one device (NEAT-S and NEAT-L leave it as it is)
    *TRAINING_KEYS,
)
PRESET_KEYS = {"NEAT-S": TRAINING_KEYS, "NEAT-L": TRAINING_KEYS, "Quick CPU demo": DEMO_KEYS}
_SHAPES = {"NEAT-S": {"r": 8, "depth": 0}, "NEAT-L": {"r": 32, "depth": 2}}

PRESET_HELP = {
    "NEAT-S": "Small NEAT, as in the paper's small setting: rank 8, no hidden layers (depth 0), one "
    "full epoch at the default training settings. About LoRA's cost at the same rank.",
    "NEAT-L": "Large NEAT, as in the paper's large setting: rank 32 with 2 residual hidden "
    "layer pairs (depth 2) for a more expressive nonlinear update, one full epoch.",
    "Quick CPU demo": f"A short run, {QUICK_DEMO_TIME}: embedded MiniLM on 1,200 Rotten Tomatoes "
    "reviews, 60 steps, batch 16, max length 64, then scored on about 640 held-out test reviews "
    "(about 70% accuracy; a full epoch reaches about 80%).",
}


def preset_values(name: str, task: str) -> dict[str, Any]:
    """Every field `name` owns, with the value it sets (for the form's task: NEAT's tuned
    scaling and learning rate are per task)."""
    if name == "Quick CPU demo":
        demo = spec_to_form(backend.quick_demo_spec())
        values = {key: demo[key] for key in DEMO_KEYS}
        values["name"] = ""  # automatic: named after the model and data
        return values
    if name not in _SHAPES:
        raise ValueError(f"unknown preset {name!r}; choose {', '.join(PRESET_KEYS)}")
    neat = backend.method_defaults(task or "classification", "neat")
    values = {key: FORM_DEFAULTS[key] for key in TRAINING_KEYS}
    values.update(
        method="neat",
        scaling=neat["method"]["scaling"],
        neat_init=neat["method"]["neat_init"],
        learning_rate=neat["training"]["learning_rate"],
        head_learning_rate=neat["training"].get("head_learning_rate", FORM_DEFAULTS["head_learning_rate"]),
        **_SHAPES[name],
    )
    return values


def apply_preset(name: str, values: dict) -> tuple[dict, str]:
    """The form after pressing preset `name`, and a line saying what it changed."""
    before = {**FORM_DEFAULTS, **(values or {})}
    owned = preset_values(name, before.get("task"))
    after = {**before, **owned}
    changes = [
        f"{FIELD_BY_KEY[key].label} {shown_value(key, before[key])} → {shown_value(key, value)}"
        for key, value in owned.items()
        if not same_value(before[key], value)
    ]
    if not changes:
        return after, f"Preset **{name}**: the form already had its settings; nothing changed."
    return after, f"Preset **{name}**: " + ", ".join(changes) + "."


def same_value(a: Any, b: Any) -> bool:
    if a in (None, "", []) and b in (None, "", []):
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    if {type(a), type(b)} & {str} and {type(a), type(b)} & {int, float}:  # "8" typed, 8 set
        try:
            return float(a) == float(b)
        except ValueError:
            return False
    return a == b


def shown_value(key: str, value: Any) -> str:
    """A value as the change line names it (what an empty field means, not a blank)."""
    if value in (None, "", []):
        return {
            "max_steps": "off (epochs decide)",
            "max_rows": "all rows",
            "target_modules": "the architecture's defaults",
            "lora_alpha": "= r",
            "name": "automatic",
        }.get(key, "(none)")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer() and FIELD_BY_KEY[key].kind.startswith("int"):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:g}" if isinstance(value, float) else str(value)
