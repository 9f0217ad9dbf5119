"""Browser tests: the real app (`python -m app`, with its real worker) driven through Chromium.

One app serves the whole module: starting it (and the worker) takes ~20 s on 2 cores. It runs
with its own NEAT_HOME in a temp folder; the tests read the same job store through jobs.api.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.needs import require_module

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def data_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    good = ["review,sentiment"]
    pos = ["wonderful", "a joy", "moving", "brilliant", "charming"]
    neg = ["dull", "a mess", "tedious", "awful", "clumsy"]
    for i in range(120):
        words = pos if i % 2 else neg
        good.append(
            f'"the film was {words[i % 5]} and {words[(i // 2) % 5]}",{"positive" if i % 2 else "negative"}'
        )
    (folder / "My Reviews.csv").write_text("\n".join(good) + "\n", encoding="utf-8")
    (folder / "broken.csv").write_text(
        "text,label\ngood movie,1\nbad movie,0,extra,fields\nok,1\n", encoding="utf-8"
    )
    return {"good": folder / "My Reviews.csv", "broken": folder / "broken.csv"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """`python -m app --port <free> [args]` with its own NEAT_HOME, stopped on close()."""

    def __init__(self, home: Path, args: tuple[str, ...] = (), env: dict | None = None):
        self.home = home
        port = _free_port()
        full_env = {
            **os.environ,
            "NEAT_HOME": str(home),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "TOKENIZERS_PARALLELISM": "false",
            "NEAT_HEARTBEAT_S": "1",
        }
        for name in ("NEAT_DB_URL", "NEAT_QUEUE_URL", "NEAT_AUTH"):
            full_env.pop(name, None)
        full_env.update(env or {})
        self.log_path = home / "app.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(port), *args],
            cwd=REPO,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}/"

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"the app exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"the app did not answer at {self.url}:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def close(self) -> None:
        self.proc.terminate()  # the app stops its worker on the way out
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, chromium_path):
    """The app with a fresh NEAT_HOME and its worker; yields (url, neat_home)."""
    # the tests' temp folders (tiny model, data files) are open to the app, like an operator's /data
    app = AppProcess(
        tmp_path_factory.mktemp("neat_home"), env={"NEAT_DATA_DIRS": str(tmp_path_factory.getbasetemp())}
    )
    try:
        app.wait_ready()
        yield app.url, app.home
    finally:
        app.close()


@pytest.fixture
def start_app(tmp_path_factory):
    """Start extra apps (e.g. with NEAT_AUTH); they are stopped after the test."""
    started: list[AppProcess] = []

    def start(args: tuple[str, ...] = (), env: dict | None = None) -> AppProcess:
        opened = {"NEAT_DATA_DIRS": str(tmp_path_factory.getbasetemp())}
        app = AppProcess(tmp_path_factory.mktemp("neat_home_extra"), args, {**opened, **(env or {})})
        started.append(app)
        app.wait_ready()
        return app

    yield start
    for app in started:
        app.close()


@pytest.fixture(scope="module")
def store(app_server):
    """jobs.api reading the app's own job store (same NEAT_HOME)."""
    _, home = app_server
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEAT_HOME", str(home))
        mp.delenv("NEAT_DB_URL", raising=False)
        mp.delenv("NEAT_QUEUE_URL", raising=False)
        from jobs import api

        yield api


@pytest.fixture(scope="module")
def browser(chromium_path):
    sync_api = require_module("playwright.sync_api")
    # The app, its worker and Chromium share two cores in CI: an answer can take seconds, so
    # `expect` waits up to 15 s (not 5) before it fails; a passing check returns at once.
    sync_api.expect.set_options(timeout=15_000)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def wait_until_settled(page) -> None:
    """The page has opened: the default model is described and the default dataset checked."""
    from playwright.sync_api import expect

    page.wait_for_selector("#start-btn")
    expect(page.locator("#model-info")).to_contain_text("linear layers", timeout=120_000)
    expect(page.locator("#data-report")).to_contain_text("Dataset check", timeout=120_000)


@pytest.fixture
def page(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(app_server[0])
    wait_until_settled(page)
    yield page
    context.close()
