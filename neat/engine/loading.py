"""Load the base model and its tokenizer / image processor for a run spec."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from neat.engine.assets import resolve_model_path
from neat.engine.errors import ModelLoadError

AUTO_MODEL = {
    "classification": AutoModelForSequenceClassification,
    "causal-lm": AutoModelForCausalLM,
    "image-classification": AutoModelForImageClassification,
}
# Task heads trained in full next to the adapter (PEFT's modules_to_save).
HEAD_NAMES = ("classifier", "score")


def require_config(name: str, path: str, gguf_file: str | None = None) -> None:
    """A local model folder must hold config.json (or the .gguf named by gguf_file): say so
    plainly instead of the tokenizer's cut-off error about some other missing file."""
    folder = Path(path)
    if folder.is_dir() and not gguf_file and not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"model folder {name} holds no config.json: is it a Hugging Face model folder "
            "(saved with save_pretrained)?"
        )


def _resolved(spec, need_config: bool = True) -> tuple[str, dict]:
    path, extra = resolve_model_path(spec.model.name_or_path, spec.model.gguf_file)
    if need_config:
        require_config(spec.model.name_or_path, path, spec.model.gguf_file)
    extra = dict(extra)
    extra["trust_remote_code"] = spec.model.trust_remote_code
    return path, extra


def _load_failed(spec, exc: Exception) -> ModelLoadError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(f"could not load model {spec.model.name_or_path!r}: {reason}")


def load_processor(spec, need_config: bool = True):
    """Tokenizer for text tasks (with a pad token), image processor for image tasks.

    need_config=False: the folder holds only a processor (a run's adapter/, saved with it)."""
    path, extra = _resolved(spec, need_config)
    try:
        if spec.task == "image-classification":
            return AutoImageProcessor.from_pretrained(path, **extra)
        tokenizer = AutoTokenizer.from_pretrained(path, **extra)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_failed(spec, exc) from exc
    if tokenizer.pad_token is None:
        # Decoder-only models often ship without a pad token; padding is masked anyway.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_base_model(spec, labels: list[str] | None = None, regression: bool = False, dtype=None):
    """The pretrained model for spec.task; classification heads get fresh `labels`."""
    path, extra = _resolved(spec)
    kwargs = dict(extra)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if spec.task != "causal-lm":
        if regression:
            kwargs.update(num_labels=1, problem_type="regression")
        elif labels:
            kwargs.update(
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={name: i for i, name in enumerate(labels)},
            )
        # A checkpoint's own head may have another number of classes: replace it.
        kwargs["ignore_mismatched_sizes"] = True
    try:
        model = AUTO_MODEL[spec.task].from_pretrained(path, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise _load_failed(spec, exc) from exc
    if spec.task == "classification" and model.config.pad_token_id is None:
        # Sequence classification on decoder models finds the last token through the pad id.
        model.config.pad_token_id = getattr(model.config, "eos_token_id", None) or 0
    return model


def head_module_names(model: torch.nn.Module) -> list[str]:
    """Names of the task head modules present on `model` (empty for causal LMs)."""
    top = dict(model.named_children())
    return [name for name in HEAD_NAMES if name in top]
