"""Who may do what in the app: server paths, remote code, whose jobs, sign-in throttling.

Real handlers of the Train and Jobs tabs on real files and the real SQLite job store; the
HTTP side (a real app process) is in test_access_http.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app import access, backend, caches, paths
from app.login import Authenticator, LoginThrottle
from app.tabs import jobs_tab, train
from app.tabs.train import assistants, form, start
from app.uploads import store_upload
from neat.engine.spec import RunSpec


@pytest.fixture
def folders(tmp_path, monkeypatch, reviews_csv, tiny_model):
    """Open folders (NEAT_DATA_DIRS: data, the tiny model's) and a private one outside them."""
    open_dir, private = tmp_path / "open", tmp_path / "private"
    open_dir.mkdir()
    private.mkdir()
    (open_dir / "reviews.csv").write_text(reviews_csv.read_text())
    secret = private / "secret.csv"
    secret.write_text("text,label\nsalary of bob,1\nsalary of eve,0\n")
    secret.chmod(0o600)
    monkeypatch.setenv("NEAT_DATA_DIRS", f"{open_dir}:{tiny_model.parent}")
    return {"open": open_dir, "private": private, "secret": secret, "missing": private / "nothing.csv"}


def _values(tiny_model, **extra):
    return {
        **form.FORM_DEFAULTS,
        "model_kind": form.MODEL_OTHER,
        "model_path": str(tiny_model),
        "data_kind": form.DATA_OTHER,
        "col_text": "review",
        "col_label": "sentiment",
        "max_steps": 2,
        "batch_size": 4,
        "max_length": 32,
        **extra,
    }


def _same_answer(a: str, b: str, path_a, path_b) -> None:
    """The two messages differ only in the path they repeat back."""
    assert a.replace(str(path_a), "PATH") == b.replace(str(path_b), "PATH"), (a, b)
    assert paths.REFUSED in a


# ---- paths ---------------------------------------------------------------------------------------


def test_dataset_field_reads_only_allowed_folders_and_answers_alike(neat_home, tiny_model, folders):
    ok = assistants.dataset_summary(_values(tiny_model, data_ref=str(folders["open"] / "reviews.csv")))
    assert ok["rows"] == 40
    answers = []
    for path in (folders["secret"], folders["missing"]):
        with pytest.raises(Exception) as caught:
            assistants.dataset_summary(_values(tiny_model, data_ref=str(path)))
        answers.append(str(caught.value))
        _, errors = assistants.check_data(_values(tiny_model, data_ref=str(path)))
        assert [e.field for e in errors] == ["dataset.source"] and paths.REFUSED in errors[0].message
    _same_answer(*answers, folders["secret"], folders["missing"])
    assert "salary" not in answers[0]


def test_escapes_from_an_allowed_folder_are_refused(neat_home, tiny_model, folders):
    dotdot = folders["open"] / ".." / "private" / "secret.csv"
    link = folders["open"] / "link.csv"
    link.symlink_to(folders["secret"])
    for ref in (str(dotdot), str(link), "~/../../etc/passwd.csv", "private/secret.csv"):
        assert paths.check_ref(ref, "dataset.source", "dataset", builtin=True), ref


def test_run_folders_and_neat_home_are_reached_only_through_jobs(neat_home, tiny_model, folders, monkeypatch):
    metrics = neat_home / "runs" / "1-someone" / "metrics.jsonl"
    metrics.parent.mkdir(parents=True)
    metrics.write_text('{"step": 1}\n')
    monkeypatch.setenv("NEAT_DATA_DIRS", f"{folders['open']},{neat_home}")  # even if opened by mistake
    assert paths.check_ref(str(metrics), "dataset.source", "dataset")
    assert paths.check_ref(str(neat_home / "neat.db"), "dataset.source", "dataset")
    stored = store_upload(folders["open"] / "reviews.csv", "reviews.csv")
    assert paths.check_ref(str(stored), "dataset.source", "dataset") == []


def test_validation_file_and_stored_upload_fields_are_checked(neat_home, tiny_model, folders):
    base = _values(tiny_model, data_ref=str(folders["open"] / "reviews.csv"))
    answers = []
    for path in (folders["secret"], folders["missing"]):
        _, errors = assistants.check_data({**base, "validation_source": str(path)})
        assert [e.field for e in errors] == ["dataset.validation_source"]
        answers.append(errors[0].message)
    _same_answer(*answers, folders["secret"], folders["missing"])
    answers = []
    for path in (folders["secret"], folders["missing"]):
        _, errors = assistants.check_data({**base, "test_source": str(path)})
        assert [e.field for e in errors] == ["dataset.test_source"]
        answers.append(errors[0].message)
    _same_answer(*answers, folders["secret"], folders["missing"])
    # a split of a hub dataset is no server path (the hub is not reached by this check)
    assert paths.check_test_ref("someone/reviews:test") == paths.check_test_ref(":test") == []
    assert paths.check_test_ref(f"{folders['secret']}:test")
    # the stored-upload box is read-only in the page, but a request can carry any value
    forged = {**base, "data_kind": form.DATA_UPLOAD, "data_upload": str(folders["secret"])}
    _, errors = assistants.check_data(forged)
    assert paths.REFUSED in errors[0].message
    result = start.start(forged)
    assert result.job_ids == [] and any(paths.REFUSED in e.message for e in result.errors)
    assert backend.list_jobs() == []


def test_model_folder_field_answers_alike_and_hub_ids_pass(neat_home, tiny_model, folders):
    private_model = folders["private"] / "model"
    private_model.mkdir()
    (private_model / "config.json").write_text("{}")
    a = assistants.check_model_ref(str(private_model))
    b = assistants.check_model_ref(str(folders["private"] / "no-model"))
    _same_answer(a[0].message, b[0].message, private_model, folders["private"] / "no-model")
    assert assistants.suggest_task_for_model(str(private_model)) is None  # its config.json is not read
    assert assistants.check_model_ref("prajjwal1/bert-tiny") == []  # a hub id is not a path
    assert paths.check_ref("imdb", "dataset.source", "dataset", builtin=True) == []
    assert paths.check_ref("rotten_tomatoes", "dataset.source", "dataset", builtin=True) == []
    empty = folders["open"] / "empty-model"
    empty.mkdir()
    assert "no config.json" in assistants.check_model_ref(str(empty))[0].message


def test_cli_is_not_restricted(neat_home, folders, capsys):
    """The command line runs as its local user: the same private file reads fine there."""
    from neat.engine.data import load_raw

    assert len(load_raw(str(folders["secret"]))) == 2


# ---- remote code ---------------------------------------------------------------------------------


def test_remote_code_is_refused_unless_the_operator_allows_it(neat_home, tiny_model, folders, monkeypatch):
    monkeypatch.delenv(access.REMOTE_CODE_ENV, raising=False)
    values = _values(tiny_model, data_ref=str(folders["open"] / "reviews.csv"), trust_remote_code=True)
    result = start.start(values)
    assert result.job_ids == [] and backend.list_jobs() == []
    [refusal] = [e for e in result.errors if e.field == "model.trust_remote_code"]
    assert access.REMOTE_CODE_FLAG in refusal.message and access.REMOTE_CODE_ENV in refusal.message
    # the API door refuses it too, not only the form
    with pytest.raises(Exception, match="--allow-remote-code"):
        backend.submit(form.validate_form(values)[0])

    monkeypatch.setenv(access.REMOTE_CODE_ENV, "1")
    uploaded = store_upload(_zip_of(tiny_model, folders["private"] / "m.zip"), "m.zip")
    result = start.start({**values, "model_path": str(uploaded)})
    assert any("uploaded" in e.message for e in result.errors) and backend.list_jobs() == []
    result = start.start(values)
    assert result.errors == [] and len(result.job_ids) == 1


def test_the_checkbox_shows_only_when_remote_code_is_allowed(neat_home, monkeypatch):
    import gradio as gr

    for allowed, env in ((False, None), (True, "1")):
        if env:
            monkeypatch.setenv(access.REMOTE_CODE_ENV, env)
        else:
            monkeypatch.delenv(access.REMOTE_CODE_ENV, raising=False)
        with gr.Blocks():
            tab = train.build()
        assert tab.form["trust_remote_code"].visible is allowed


def test_the_app_never_describes_or_loads_remote_code(neat_home, tiny_model, folders, monkeypatch):
    monkeypatch.setenv(access.REMOTE_CODE_ENV, "1")
    with pytest.raises(access.RemoteCodeRefused):
        backend.describe_linear_modules(str(tiny_model), trust_remote_code=True)
    with pytest.raises(access.RemoteCodeRefused):
        backend.param_budget(str(tiny_model), "classification", {"name": "neat"}, trust_remote_code=True)
    run = folders["open"] / "run"
    run.mkdir()
    spec = RunSpec()
    spec.model.trust_remote_code = True
    spec.save(run / "spec.yaml")
    with pytest.raises(access.RemoteCodeRefused):
        caches.PredictorCache().get(run)


def _zip_of(folder: Path, dest: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(dest, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"model/{f.name}")
    return dest


# ---- accounts ------------------------------------------------------------------------------------


def test_two_accounts_cannot_see_or_touch_each_others_jobs(neat_home, tiny_model, folders, monkeypatch):
    monkeypatch.setenv("NEAT_AUTH", "alice:a-pass,bob:b-pass,root:r-pass")
    monkeypatch.setenv("NEAT_ADMINS", "root")
    alice, bob, root = (access.Viewer(n, admin=n in access.admins()) for n in ("alice", "bob", "root"))
    values = _values(tiny_model, data_ref=str(folders["open"] / "reviews.csv"))
    [a_job] = start.start(values, alice).job_ids
    [b_job] = start.start({**values, "name": "bobs"}, bob).job_ids
    assert [j["id"] for j in backend.list_jobs(alice)] == [a_job]
    assert [j["id"] for j in backend.list_jobs(bob)] == [b_job]
    assert {j["id"] for j in backend.list_jobs(root)} == {a_job, b_job}
    assert backend.get_job(a_job, alice)["owner"] == "alice"
    nobody = access.viewer_of(None)  # a request without a signed-in user
    assert backend.list_jobs(nobody) == []

    missing = str(backend.user_message(_raises(backend.get_job, 999, bob)))
    other = str(backend.user_message(_raises(backend.get_job, a_job, bob)))
    assert other.replace(str(a_job), "N") == missing.replace("999", "N")  # not even its existence
    for call in (
        lambda: backend.get_metrics(a_job, bob),
        lambda: backend.get_logs(a_job, viewer=bob),
        lambda: backend.job_action("cancel", a_job, bob),
        lambda: backend.job_action("delete", a_job, bob),
        lambda: backend.job_action("retry", a_job, bob),
        lambda: backend.job_action("resume", a_job, bob),
    ):
        _raises(call)
    assert jobs_tab.run_action("delete", a_job, bob).startswith("✗ job")
    assert backend.get_job(a_job, alice)["status"] == "queued"  # untouched
    assert jobs_tab.run_action("cancel", a_job, alice) == f"Cancel requested for job #{a_job}."
    new = backend.job_action("retry", a_job, alice)
    assert backend.get_job(new, alice)["owner"] == "alice"  # a retry stays alice's
    assert root.sees_all and backend.job_action("cancel", b_job, root)["status"] == "cancelled"


def test_without_login_there_is_one_implicit_user(neat_home, tiny_model, folders, monkeypatch):
    monkeypatch.delenv("NEAT_AUTH", raising=False)
    values = _values(tiny_model, data_ref=str(folders["open"] / "reviews.csv"))
    [job] = start.start(values).job_ids
    viewer = access.viewer_of(None)
    assert viewer.sees_all and [j["id"] for j in backend.list_jobs(viewer)] == [job]
    assert backend.get_job(job)["owner"] is None


def _raises(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc
    raise AssertionError(f"{fn} did not refuse")


def test_failed_sign_ins_are_throttled_per_user_and_address():
    now = [0.0]
    auth = Authenticator([("alice", "right"), ("bob", "pw")], LoginThrottle(clock=lambda: now[0]))
    from fastapi import HTTPException

    from app.login import client_address

    client_address.set("10.0.0.1")
    for _ in range(5):
        assert auth("alice", "wrong") is False
    with pytest.raises(HTTPException) as caught:
        auth("alice", "right")  # even the right password waits
    assert caught.value.status_code == 429 and "try again" in caught.value.detail
    assert auth("bob", "pw") is True  # another user from the same address is not locked out
    now[0] += 301
    assert auth("alice", "right") is True
    # one address trying many names is stopped too
    client_address.set("10.0.0.2")
    for i in range(20):
        assert auth(f"user{i}", "x") is False
    with pytest.raises(HTTPException):
        auth("bob", "pw")
    client_address.set("10.0.0.3")
    assert auth("bob", "pw") is True
