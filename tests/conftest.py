"""Fixtures shared by every test layer (layer-specific ones live in tests/<layer>/conftest.py).

Tests never reach a model or dataset hub. Redis, PostgreSQL and Chromium are optional on a
developer's machine: the tests that need them skip when scripts/test.sh could not provide them.
In CI (CI=true, as CI services set it) a missing one fails those tests instead, so a run
that silently tested less can never pass there.

`--update-screenshots` makes the browser tests write the README's screenshots
(docs/screenshots/); without it they write to the ignored test-output/screenshots/.
"""

import os
from pathlib import Path

import pytest

from tests.needs import missing

REPO = Path(__file__).resolve().parents[1]

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT classifier saved with the embedded MiniLM tokenizer."""
    from tests.tiny_runs import tiny_bert_folder

    return tiny_bert_folder(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture
def neat_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh NEAT_HOME with the default (SQLite) store and queue."""
    home = tmp_path / "neat_home"
    home.mkdir()
    monkeypatch.setenv("NEAT_HOME", str(home))
    monkeypatch.delenv("NEAT_DB_URL", raising=False)
    monkeypatch.delenv("NEAT_QUEUE_URL", raising=False)
    return home


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        help="browser tests write the README's screenshots to docs/screenshots/",
    )


@pytest.fixture(scope="session")
def screenshot_dir(request: pytest.FixtureRequest) -> Path:
    """Where browser tests save screenshots: docs/screenshots/ only when asked to refresh them."""
    if request.config.getoption("--update-screenshots"):
        folder = REPO / "docs" / "screenshots"
    else:
        folder = REPO / "test-output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _service_url(variable: str, what: str) -> str:
    url = os.environ.get(variable)
    if not url:
        missing(f"{variable} is not set: no {what} server (scripts/test.sh starts one)")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """redis://127.0.0.1:PORT/0 of a throwaway Redis shared by the whole session."""
    return _service_url("NEAT_TEST_REDIS_URL", "Redis")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """postgresql+psycopg://USER@127.0.0.1:PORT/DB (SQLAlchemy form) of a throwaway database
    shared by the whole session: use unique names or clean up after yourself."""
    return _service_url("NEAT_TEST_PG_URL", "PostgreSQL")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, for playwright's `chromium.launch(executable_path=...)`."""
    path = os.environ.get("NEAT_TEST_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        missing(f"{path} not found: install Debian's chromium package (scripts/test.sh does)")
    return path
