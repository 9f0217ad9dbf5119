"""The access rules over HTTP, against the real app process (`python -m app --no-worker`).

Every Gradio event is an HTTP endpoint, so hiding a control in the page is not enough: these
tests call the endpoints directly (gradio_client) as a script or an attacker would.
"""

from __future__ import annotations

import json

import httpx
import pytest

from app.tabs.train.form import DATA_OTHER, FORM_DEFAULTS, FORM_KEYS, MODEL_OTHER
from tests.e2e.conftest import AppProcess
from tests.tiny_runs import sentiment_csv, tiny_bert_folder

gradio_client = pytest.importorskip("gradio_client")

CANARY_CONFIG = {
    "model_type": "canary",
    "architectures": ["CanaryModel"],
    "auto_map": {
        "AutoConfig": "configuration_canary.CanaryConfig",
        "AutoModel": "configuration_canary.CanaryModel",
    },
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An open data folder with a dataset, the tiny model, and a remote-code canary model."""
    base = tmp_path_factory.mktemp("http")
    open_dir = base / "open"
    open_dir.mkdir()
    data = sentiment_csv(open_dir / "reviews.csv", rows=40)
    model = tiny_bert_folder(open_dir / "tiny-bert")
    canary = open_dir / "canary-model"
    canary.mkdir()
    marker = base / "CANARY-RAN"
    (canary / "config.json").write_text(json.dumps(CANARY_CONFIG))
    (canary / "configuration_canary.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('model code ran')\n"
        "from transformers import PretrainedConfig\n"
        "class CanaryConfig(PretrainedConfig):\n    model_type = 'canary'\n"
    )
    private = base / "private"
    private.mkdir()
    (private / "secret.csv").write_text("text,label\nbob earns 1,1\neve earns 2,0\n")
    return {
        "open": open_dir,
        "data": data,
        "model": model,
        "canary": canary,
        "marker": marker,
        "private": private,
    }


def _start(tmp_path_factory, args=(), env=None) -> AppProcess:
    app = AppProcess(tmp_path_factory.mktemp("home"), ("--no-worker", *args), env)
    app.wait_ready()
    return app


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory, world):
    """Two accounts; remote code off (the default)."""
    app = _start(
        tmp_path_factory, env={"NEAT_AUTH": "alice:a-pass,bob:b-pass", "NEAT_DATA_DIRS": str(world["open"])}
    )
    yield app
    app.close()


def _form(world, **extra) -> list:
    values = {
        **FORM_DEFAULTS,
        "model_kind": MODEL_OTHER,
        "model_path": str(world["model"]),
        "data_kind": DATA_OTHER,
        "data_ref": str(world["data"]),
        "col_text": "text",
        "col_label": "label",
        "max_steps": 2,
        "batch_size": 4,
        "max_length": 32,
        **extra,
    }
    return [values[k] for k in FORM_KEYS]


def _client(app, user=None):
    auth = (user, f"{user[0]}-pass") if user else None
    return gradio_client.Client(app.url, auth=auth, verbose=False)


def _text(value) -> str:
    return json.dumps(value, default=str)


def test_paths_over_http_answer_alike_and_read_nothing(shared_app, world):
    alice = _client(shared_app, "alice")
    answers = []
    for path in (world["private"] / "secret.csv", world["private"] / "missing.csv"):
        errors, report = alice.predict(*_form(world, data_ref=str(path)), api_name="/on_columns")
        assert "not found or not allowed" in errors and "earns" not in errors + report
        answers.append(errors.replace(str(path), "PATH"))
        start = alice.predict(*_form(world, data_ref=str(path)), api_name="/on_start")
        assert "Nothing was queued" in _text(start)
    assert answers[0] == answers[1]
    errors, _ = alice.predict(*_form(world, data_ref=str(world["data"])), api_name="/on_columns")
    assert errors == ""


def test_remote_code_refusal_names_the_flag(shared_app, world):
    alice = _client(shared_app, "alice")
    out = _text(
        alice.predict(
            *_form(world, model_path=str(world["canary"]), trust_remote_code=True), api_name="/on_start"
        )
    )
    assert "--allow-remote-code" in out and "Nothing was queued" in out
    assert not world["marker"].exists()


def _all(client, *args, api_name: str) -> str:
    """Every answer of the endpoint (a generator's updates, one after the other), as text."""
    job = client.submit(*args, api_name=api_name)
    job.result()
    return _text(job.outputs())


def _try(client, *args, api_name: str) -> str:
    """The endpoint's answers, or Gradio's refusal (a job id outside this session's choices)."""
    try:
        return _all(client, *args, api_name=api_name)
    except gradio_client.exceptions.AppError as exc:
        return str(exc)


def test_two_accounts_see_only_their_own_jobs(shared_app, world):
    alice, bob = _client(shared_app, "alice"), _client(shared_app, "bob")
    out = _text(alice.predict(*_form(world, name="alices-run"), api_name="/on_start"))
    assert "Queued job #" in out, out
    job_id = out.split("Queued job #")[1].split(" ")[0]
    table = ("all", "", None)  # the Jobs table's status and name filters, and the selected job
    assert "alices-run" in _text(alice.predict(*table, api_name="/refresh_table"))
    assert "alices-run" in _all(alice, job_id, "step", api_name="/details_tick")
    assert "alices-run" not in _text(bob.predict(*table, api_name="/refresh_table"))
    for args, name in (
        ((job_id, "step"), "/details_tick"),
        ((job_id,), "/on_clone"),
        ((job_id, "step"), "/forced"),
    ):
        answer = _try(bob, *args, api_name=name)
        assert "alices-run" not in answer and ("does not exist" in answer or "not in the list" in answer), (
            answer
        )


def test_failed_sign_ins_are_throttled(shared_app):
    url = shared_app.url + "login"
    for _ in range(5):
        assert httpx.post(url, data={"username": "alice", "password": "guess"}).status_code == 400
    locked = httpx.post(url, data={"username": "alice", "password": "a-pass"})
    assert locked.status_code == 429 and "try again" in locked.text
    assert httpx.post(url, data={"username": "bob", "password": "b-pass"}).status_code == 200


def test_the_app_process_never_runs_model_code(tmp_path_factory, world):
    """Remote code allowed by the operator: still, no endpoint of the app imports the canary's
    code (the worker would, when it trains the job); every form handler is called with it."""
    app = _start(tmp_path_factory, ("--allow-remote-code",), {"NEAT_DATA_DIRS": str(world["open"])})
    try:
        client = _client(app)
        endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        form_handlers = [
            name for name, spec in endpoints.items() if len(spec["parameters"]) == len(FORM_KEYS)
        ]
        assert "/on_start" in form_handlers and len(form_handlers) > 20
        for trust in (True, False):
            values = _form(world, model_path=str(world["canary"]), trust_remote_code=trust)
            for name in form_handlers:
                try:
                    client.predict(*values, api_name=name)
                except Exception:  # noqa: BLE001 - a refusal is fine; running the code is not
                    pass
        assert not world["marker"].exists(), "the canary's model code ran inside the app process"
    finally:
        app.close()
    assert not world["marker"].exists()
