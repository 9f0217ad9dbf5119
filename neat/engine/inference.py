"""Load a finished run for the Playground: classify text or images, or chat, with or without the adapter.

A run directory (written by neat.engine.train) holds `spec.yaml`, `labels.json` (classification tasks)
and `adapter/`: a PEFT adapter plus the tokenizer or image processor (methods neat and lora), or a
whole transformers model folder (method full). The adapted model and the base model share one
set of weights: the base answers come from the same model under PEFT's `disable_adapter()`
(which also swaps a trained task head back to the base model's own). For `full` runs the base
model is loaded separately, on first use.

One Predictor may serve several UI sessions at once. Switching the adapter off changes the
model for every caller, so each forward pass or generation runs under one lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import StoppingCriteria

from neat.engine import precision as precisions
from neat.engine.errors import ModelLoadError, UserError
from neat.engine.loading import HEAD_NAMES
from neat.engine.rundir import RunDir
from neat.engine.spec import RunSpec

TASK_CALLS = {
    "classification": "classify",
    "image-classification": "classify_image",
    "causal-lm": "chat_stream",
}


def choose_device(busy_gpus: set[str] = frozenset()) -> tuple[torch.device, str | None]:
    """A device for answering that no training job is using: a free GPU, else the CPU.

    `busy_gpus` holds GPU numbers (nvidia-smi's, as CUDA_VISIBLE_DEVICES names them) that jobs
    train on. Returns (device, note); the note says why the CPU was chosen on a GPU machine.
    """
    if not torch.cuda.is_available():
        return torch.device("cpu"), None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    numbers = [g.strip() for g in visible.split(",")] if visible else None
    for index in range(torch.cuda.device_count()):
        number = numbers[index] if numbers and index < len(numbers) else str(index)
        if number not in busy_gpus:
            return torch.device("cuda", index), None
    return torch.device("cpu"), "every GPU is training a job, so this model answers on the CPU"


def _spec_for_folder(spec: RunSpec, folder: Path) -> RunSpec:
    """The same spec with the model read from `folder` (a saved full model)."""
    model = dataclasses.replace(spec.model, name_or_path=str(folder), gguf_file=None)
    return dataclasses.replace(spec, model=model)


def seeded_base_model(spec: RunSpec, labels, regression: bool, dtype=None) -> torch.nn.Module:
    """The base model; a freshly initialised head gets the run's seed, so base answers repeat."""
    from neat.engine.loading import load_base_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.training.seed)
        return load_base_model(spec, labels=labels, regression=regression, dtype=dtype)


def load_run_model(
    output_dir: str | Path, spec: RunSpec | None = None, precision: str = "fp32"
) -> torch.nn.Module:
    """The fine-tuned model of a run on the CPU: a PeftModel (neat, lora) or a plain model (full).

    With a low `precision` an adapter run's frozen base loads in it (the adapter stays fp32),
    as in training; run it under `neat.engine.precision.autocast`.
    """
    run = RunDir(output_dir)
    out = run.root
    spec = spec or run.read_spec()
    labels, regression = run.read_labels(spec.task)
    adapter_dir = run.adapter
    if spec.method.name == "full":
        if not (adapter_dir / "config.json").is_file():
            raise ModelLoadError(
                f"the run in {out} is incomplete: adapter/ holds no model (did training finish?)"
            )
        return seeded_base_model(_spec_for_folder(spec, adapter_dir), labels, regression)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelLoadError(
            f"the run in {out} is incomplete: adapter/ holds no adapter (did training finish?)"
        )
    base = seeded_base_model(spec, labels, regression, precisions.base_dtype(precision, spec.method.name))
    try:
        if spec.method.name == "neat":
            from neat.tuner import load_neat_model

            return load_neat_model(base, adapter_dir)
        from peft import PeftModel

        return PeftModel.from_pretrained(base, str(adapter_dir))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load the adapter in {adapter_dir}: {exc}") from exc


def load_run_processor(output_dir: str | Path, spec: RunSpec | None = None):
    """The tokenizer or image processor saved with the run (else the base model's own)."""
    from neat.engine.loading import load_processor

    run = RunDir(output_dir)
    spec = spec or run.read_spec()
    try:
        # adapter/ of an adapter run holds the tokenizer but no config.json: no config check
        return load_processor(_spec_for_folder(spec, run.adapter), need_config=spec.method.name == "full")
    except (UserError, OSError, ValueError, KeyError, TypeError):
        return load_processor(spec)


class _StopOnEvent(StoppingCriteria):
    """Stopping criterion: end generation once `event` is set (the reader went away)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        stop = self.event.is_set()
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class Predictor:
    """A finished run, ready to answer. Build it with `Predictor.load(output_dir)`."""

    def __init__(
        self,
        output_dir: Path,
        spec: RunSpec,
        model: torch.nn.Module,
        processor: Any,
        labels: list[str] | None,
        regression: bool,
        device: torch.device,
        precision: str = "fp32",
        note: str | None = None,
    ):
        self.output_dir = output_dir
        self.spec = spec
        self.task = spec.task
        self.method = spec.method.name
        self.model = model
        self.processor = processor
        self.labels = labels
        self.regression = regression
        self.device = device
        self.precision = precision  # what runs: the spec's precision resolved for this device
        self.note = note  # why it answers where it does, when that needs saying
        self._base: torch.nn.Module | None = None  # method full only, loaded on first use
        # A plain Lock (not RLock): a streaming generator may be resumed on another thread.
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        output_dir: str | Path,
        device: str | torch.device | None = None,
        busy_gpus: set[str] = frozenset(),
        precision: str | None = None,
    ) -> Predictor:
        """Load a run; without `device`, on a GPU no job in `busy_gpus` trains on, else the CPU.

        `precision` overrides the run's own (its spec's, resolved for the device)."""
        run = RunDir(output_dir)
        out = run.root
        spec = run.read_spec()
        labels, regression = run.read_labels(spec.task)
        note = None
        if device is None:
            device, note = choose_device(busy_gpus)
        device = torch.device(device)
        precision = precisions.resolve(precision or spec.training.precision, device.type)
        model = load_run_model(out, spec, precision).to(device).eval()
        precisions.heads_in_fp32(model, HEAD_NAMES)
        processor = load_run_processor(out, spec)
        return cls(out, spec, model, processor, labels, regression, device, precision, note)

    # -- which model answers -----------------------------------------------------------------
    @contextlib.contextmanager
    def _using(self, use_adapter: bool) -> Iterator[torch.nn.Module]:
        """The model to run, with the adapter on or off, held exclusively for the call."""
        with self._lock, precisions.autocast(self.precision, self.device.type):
            if use_adapter:
                yield self.model
            elif self.method == "full":
                yield self._base_model()
            else:
                with self.model.disable_adapter():
                    yield self.model

    def _base_model(self) -> torch.nn.Module:
        if self._base is None:
            self._base = seeded_base_model(self.spec, self.labels, self.regression).to(self.device).eval()
            precisions.heads_in_fp32(self._base, HEAD_NAMES)
        return self._base

    def _require(self, task: str, call: str) -> None:
        if self.task != task:
            raise UserError(
                f"this run is a {self.task} model; {call}() needs a {task} run "
                f"(use {TASK_CALLS.get(self.task, 'another call')}() instead)"
            )

    # -- classification ----------------------------------------------------------------------
    def classify(self, text: str, text_pair: str | None = None) -> dict[str, float]:
        """Class probabilities (softmax) with the adapter on; {"value": x} for regression."""
        return self._classify_text(text, text_pair, use_adapter=True)

    def classify_base(self, text: str, text_pair: str | None = None) -> dict[str, float]:
        """The same with the adapter (and the trained head) off: the base model's answer."""
        return self._classify_text(text, text_pair, use_adapter=False)

    def _classify_text(self, text: str, text_pair: str | None, use_adapter: bool) -> dict[str, float]:
        self._require("classification", "classify")
        if self.spec.dataset.columns.text_pair and text_pair is None:
            text_pair = ""  # the model was trained on pairs; an empty second text is the honest default
        inputs = self.processor(
            text, text_pair, truncation=True, max_length=self.spec.training.max_length, return_tensors="pt"
        )
        return self._scores(inputs, use_adapter)

    def classify_image(self, pil_image, use_adapter: bool = True) -> dict[str, float]:
        """Class probabilities for one image (PIL), every label present."""
        self._require("image-classification", "classify_image")
        inputs = self.processor(images=pil_image.convert("RGB"), return_tensors="pt")
        return self._scores(inputs, use_adapter)

    def _scores(self, inputs, use_adapter: bool) -> dict[str, float]:
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with self._using(use_adapter) as model, torch.inference_mode():
            logits = model(**inputs).logits[0].float()
        if self.regression:
            return {"value": float(logits[0])}
        probs = torch.softmax(logits, dim=-1).tolist()
        names = self.labels or [str(i) for i in range(len(probs))]
        return dict(zip(names, probs))

    # -- batches, for evaluation (neat/engine/evaluate.py) ------------------------------------
    def encode_texts(self, texts: list[str], pairs: list[str] | None = None) -> dict:
        """A padded batch of texts (and second texts), tokenised as training tokenised them."""
        return self.processor(
            texts,
            pairs,
            truncation=True,
            max_length=self.spec.training.max_length,
            padding=True,
            return_tensors="pt",
        )

    def encode_images(self, images: list) -> dict:
        return self.processor(images=[image.convert("RGB") for image in images], return_tensors="pt")

    def logits(self, inputs: dict, use_adapter: bool = True) -> torch.Tensor:
        """The model's logits for one encoded batch, as fp32 on the CPU."""
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with self._using(use_adapter) as model, torch.inference_mode():
            return model(**inputs).logits.float().cpu()

    def response_losses(self, batch: dict, use_adapter: bool = True) -> tuple[list[float], list[int]]:
        """Per row of a causal-LM batch (input_ids, attention_mask, labels with -100 where
        nothing is learned): the summed token loss of the labelled tokens, and their count."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        labels = batch["labels"][:, 1:]
        with self._using(use_adapter) as model, torch.inference_mode():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            nll = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().transpose(1, 2), labels, ignore_index=-100, reduction="none"
            )
        counted = labels != -100
        return (nll * counted).sum(1).tolist(), counted.sum(1).tolist()

    def generate_answers(self, prompts: list[str], use_adapter: bool, max_new_tokens: int = 64) -> list[str]:
        """Greedy answers to chat prompts already rendered (chat_prompt), as one left-padded batch.

        A prompt longer than training.max_length keeps its end, where the answer starts."""
        tokenizer = self.processor
        limit = self.spec.training.max_length
        rows = [tokenizer(prompt)["input_ids"][-limit:] for prompt in prompts]
        width = max(len(row) for row in rows)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        with self._using(use_adapter) as model, torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                max_new_tokens=int(max_new_tokens),
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=pad_id,
            )
        return tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)

    # -- chat --------------------------------------------------------------------------------
    def chat_prompt(self, prompt: str | list[dict]) -> str:
        """The prompt as training rendered it: the chat template, else a User:/Assistant: transcript.

        `prompt`: one user message, or a whole conversation (messages with role and content)
        whose last message is the user's new turn."""
        from neat.engine.tasks import _render

        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return _render(self.processor, messages, add_generation_prompt=True)

    def chat_side_by_side(self, base_messages, adapted_messages, **settings):
        """Base and adapted answers decoded together, token by token (neat.engine.chat)."""
        from neat.engine.chat import side_by_side

        return side_by_side(self, base_messages, adapted_messages, **settings)

    def chat_stream(
        self,
        prompt: str | list[dict],
        use_adapter: bool,
        max_new_tokens: int = 128,
        temperature: float = 0.7,
        top_p: float = 0.9,
        seed: int = 0,
    ) -> Iterator[str]:
        """Yield the answer as it grows, token by token (each value extends the previous one).

        The same seed gives the same answer, so answers with and without the adapter compare
        like for like. Closing the generator early stops the generation.
        """
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        self._require("causal-lm", "chat_stream")
        tokenizer = self.processor
        # Tokenised as training tokenised the prompt (neat.engine.tasks.encode_conversation).
        encoded = tokenizer(self.chat_prompt(prompt), return_tensors="pt")
        inputs = {k: encoded[k].to(self.device) for k in ("input_ids", "attention_mask") if k in encoded}
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop = threading.Event()
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        kwargs: dict[str, Any] = dict(
            **inputs,
            max_new_tokens=int(max_new_tokens),
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_StopOnEvent(stop)]),
            pad_token_id=pad_id,
        )
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        failures: list[BaseException] = []

        def generate() -> None:
            try:
                with self._using(use_adapter) as model, self._fixed_seed(seed):
                    model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the reading thread
                failures.append(exc)
                streamer.end()  # unblock the reader

        worker = threading.Thread(target=generate, name="neat-generate", daemon=True)
        worker.start()
        text = ""
        try:
            for piece in streamer:
                if piece:
                    text += piece
                    yield text
        finally:
            stop.set()
            worker.join()
        if failures:
            raise failures[0]
        if not text:
            yield text  # the model ended at once: still one (empty) answer

    @contextlib.contextmanager
    def _fixed_seed(self, seed: int) -> Iterator[None]:
        """Seed torch for one generation without changing the caller's random state."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield
