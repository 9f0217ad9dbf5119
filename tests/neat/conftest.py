"""Fixtures for the engine's tests (tests/conftest.py already forces the hubs offline)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def embedded_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One NEAT_HOME for the whole session, so embedded models (the 517 MB SmolLM2 conversion,
    the tiny ViT) are built once per session however many tests ask for them.

    monkeypatch is function-scoped, so the variable is set and restored here by hand.
    """
    home = tmp_path_factory.mktemp("embedded_neat_home")
    previous = os.environ.get("NEAT_HOME")
    os.environ["NEAT_HOME"] = str(home)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("NEAT_HOME", None)
        else:
            os.environ["NEAT_HOME"] = previous


@pytest.fixture(scope="session")
def minilm_tokenizer():
    """The embedded MiniLM tokenizer (a real WordPiece tokenizer, loads in well under a second)."""
    from transformers import AutoTokenizer

    from neat.engine.assets import resolve_model_path

    folder, _ = resolve_model_path("embedded:minilm")
    return AutoTokenizer.from_pretrained(folder)
