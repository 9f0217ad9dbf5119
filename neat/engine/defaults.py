"""Each fine-tuning method's own defaults per task: the one owner of those numbers.

A method's best learning rate is its own: NEAT's calibrated update (neat/layer.py) moves
about 1.7x as far per step as LoRA's at alpha = r (benchmarks/RESULTS.md, "NEAT update scale"),
and full fine-tuning moves every weight. So "compare with LoRA at equal budget" runs each
method at ITS defaults rather than copying NEAT's learning rate onto the LoRA twin.
Values come from the learning-rate search of benchmarks/quality.py (RESULTS.md, "Quality
suite"); where a value is provisional, RESULTS.md says so.
"""

from __future__ import annotations

import copy

# The task head (a fresh classifier, trained in full with every method) learns at 1e-2: at
# 1e-3 a short run leaves it far from fitted, and the method's quality cannot show
# (RESULTS.md, "The head's learning rate decides topic": on 19 topics NEAT 36% -> 71% and full
# fine-tuning 60% -> 86% with the head at 1e-2, one seed each).
HEAD_LR = 1e-2


def _with_head(methods: dict[str, dict]) -> dict[str, dict]:
    """`methods` for a task that trains a fresh head: each also sets HEAD_LR."""
    return {
        name: {**fields, "training": {**fields["training"], "head_learning_rate": HEAD_LR}}
        for name, fields in methods.items()
    }


# task -> method -> {"method": MethodSpec fields, "training": TrainingSpec fields}
# The learning rates are the quality suite's validation picks (benchmarks/quality.py prints
# them: "Defaults chosen on validation"; RESULTS.md, "Quality suite"), over three seeds and
# every task of the kind: classification over sentiment, topic and debate, causal-LM on chat.
_CLASSIFICATION = {
    "neat": {"method": {"scaling": 1.0, "neat_init": "calibrated"}, "training": {"learning_rate": 5e-3}},
    "lora": {"method": {"lora_alpha": None}, "training": {"learning_rate": 5e-3}},
    "full": {"method": {}, "training": {"learning_rate": 1e-4}},
}
METHOD_DEFAULTS: dict[str, dict[str, dict[str, dict]]] = {
    "classification": _with_head(_CLASSIFICATION),
    "causal-lm": {
        "neat": {"method": {"scaling": 1.0, "neat_init": "calibrated"}, "training": {"learning_rate": 5e-3}},
        "lora": {"method": {"lora_alpha": None}, "training": {"learning_rate": 1e-2}},
        "full": {"method": {}, "training": {"learning_rate": 2e-4}},
    },
    # Images take the text classification picks: a pretrained encoder and a fresh head, as
    # there. The suite's one image task is a randomly initialised ViT (no pretrained vision
    # model installs from the package registry), so its optimum is that of training from
    # scratch -- NEAT best at 2e-2, LoRA and full fine-tuning hardly above chance at any rate
    # -- and is reported, not carried over to fine-tuning a pretrained model.
    "image-classification": _with_head(_CLASSIFICATION),
}
TASK_ALIASES = {"text-classification": "classification", "chat": "causal-lm", "image": "image-classification"}

EVIDENCE_CLASSIFICATION = (
    "**At these defaults** (quality suite, benchmarks/RESULTS.md; NEAT and LoRA each at its "
    "validation-picked rate, the same parameter budget, three seeds): on three text "
    "classification tasks NEAT and LoRA came within about 2 points of each other (NEAT - LoRA: "
    "sentiment -0.8, topic -1.5, debate +2.0); only topic's gap is larger than the seed-to-seed "
    "noise, in LoRA's favour. Full fine-tuning, which trains every weight, was ahead of both "
    "(topic by 14 points). Expect NEAT to match LoRA here, not to beat it; for the last points, "
    "try full fine-tuning or a longer run."
)
EVIDENCE_CAUSAL_LM = (
    "**At these defaults** (quality suite, benchmarks/RESULTS.md): on SmolLM2 chat fine-tuning "
    "NEAT's held-out loss stayed above LoRA's (2.506 vs 2.446 at the defaults, three seeds) and "
    "at every learning rate tried. Part of the gap is the narrowing v_proj of grouped-query "
    "attention, which NEAT's update barely reaches beyond W0's own rows (the check before "
    "launch warns about such layers); on q_proj and o_proj the gap halved but did not close. "
    "LoRA is the safer choice for chat for now."
)
EVIDENCE_IMAGE = (
    "**At these defaults** (quality suite, benchmarks/RESULTS.md): the suite's one image task is "
    "digits on a small, randomly initialised ViT, where NEAT learned more than LoRA in the same "
    "steps (24.7% vs 19.0% test accuracy at these defaults, three seeds; 40% at rate 2e-2, where "
    "LoRA never passed 20%). These defaults are the text classification ones (a pretrained "
    "encoder with a fresh head is that problem); with a pretrained vision model NEAT has not "
    "been measured yet."
)

# What the quality suite measured at these defaults, per task (benchmarks/RESULTS.md, "Quality
# suite"): the Train tab shows it under the parameter budget, so that a user knows where NEAT
# is expected to help and where another method or a longer run may serve better.
DEFAULTS_EVIDENCE: dict[str, str] = {
    "classification": EVIDENCE_CLASSIFICATION,
    "causal-lm": EVIDENCE_CAUSAL_LM,
    "image-classification": EVIDENCE_IMAGE,
}


def method_defaults(task: str, method: str) -> dict[str, dict]:
    """{"method": {...}, "training": {...}}: the fields `method` sets by default for `task`."""
    task = TASK_ALIASES.get(task, task)
    if task not in METHOD_DEFAULTS:
        raise ValueError(f"no defaults for task {task!r}; choose {', '.join(METHOD_DEFAULTS)}")
    if method not in METHOD_DEFAULTS[task]:
        raise ValueError(f"no defaults for method {method!r}; choose {', '.join(METHOD_DEFAULTS[task])}")
    return copy.deepcopy(METHOD_DEFAULTS[task][method])


def defaults_evidence(task: str) -> str:
    """One paragraph: how NEAT at its defaults compared with LoRA and full fine-tuning on this
    kind of task in the quality suite ("" for a task the suite does not cover)."""
    return DEFAULTS_EVIDENCE.get(TASK_ALIASES.get(task, task), "")


def with_method_defaults(spec, method: str):
    """A copy of `spec` switched to `method`, with that method's defaults for the spec's task."""
    out = copy.deepcopy(spec)
    out.method.name = method
    if method == "lora":
        out.method.depth = 0
    fields = method_defaults(out.task, method)
    for name, value in fields["method"].items():
        setattr(out.method, name, value)
    for name, value in fields["training"].items():
        setattr(out.training, name, value)
    return out


# The Train tab's "Quick CPU demo": the one owner of its settings (the form's preset and the
# benchmarks read them, through neat.engine.spec.quick_demo_spec). Spec fields by section.
# Timing: benchmarks/quick_demo_time.py (RESULTS.md, "Quick CPU demo time"); accuracy:
# benchmarks/cpu_precision.py (about 71% validation accuracy at 60 steps).
QUICK_DEMO: dict[str, dict] = {
    "top": {"task": "classification"},
    "model": {"name_or_path": "embedded:minilm"},
    "dataset": {
        "source": "rotten_tomatoes",
        "columns": {"text": "text", "label": "label", "text_pair": None, "messages": None},
        "max_rows": 1200,
        # 5% of the 12,808 reviews (about 640) held out and scored once after training: a test
        # accuracy with a +-4 point interval, where the 120 validation rows give +-9
        "test_fraction": 0.05,
    },
    "method": {
        "name": "neat",
        "r": 8,
        "depth": 0,
        "act_fn": "relu",
        "scaling": 1.0,  # a short run needs the update to move fast (measured: 71% at 60 steps)
        "neat_init": "calibrated",
        "target_modules": ["query", "value"],
    },
    "training": {
        "epochs": 1.0,
        "max_steps": 60,
        "batch_size": 16,
        "max_length": 64,
        "learning_rate": 5e-3,
        "head_learning_rate": 5e-3,
        "eval_steps": 20,
        "logging_steps": 5,
        "precision": "auto",
    },
}
