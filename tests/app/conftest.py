"""Fixtures for the app's unit tests: a tiny random BERT folder and small CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def open_test_folders(tmp_path_factory, monkeypatch):
    """The operator's NEAT_DATA_DIRS: the tests' temp folders (models, data files) are readable by
    the app, as a folder like /data would be. Tests of the path policy set their own."""
    monkeypatch.setenv("NEAT_DATA_DIRS", str(tmp_path_factory.getbasetemp()))


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
