"""A new user's path through NEAT Studio, in Chromium against the real app and worker.

The tests share one app (module-scoped) and run in file order, but each one can also run on
its own: a test that needs a finished job makes one through jobs.api if none exists yet.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.needs import require_module

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect = require_module("playwright.sync_api").expect
JOB_TIMEOUT_MS = 180_000


# ---- small helpers over Gradio's DOM -------------------------------------------------------------


def field(page, elem_id):
    return page.locator(f"#{elem_id} input, #{elem_id} textarea").first


def type_into(page, elem_id, text, then="Enter"):
    box = field(page, elem_id)
    box.fill(str(text))
    box.press(then)


def pick_radio(page, elem_id, label):
    page.locator(f"#{elem_id}").get_by_text(label, exact=True).click()


def choose(page, elem_id, option_text):
    """Open a dropdown and click the option whose text contains option_text."""
    field(page, elem_id).click()
    page.locator("[role=option]", has_text=option_text).first.click()


def open_tab(page, name):
    page.get_by_role("tab", name=name).click()


def fill_tiny_run(page, tiny_model, csv_path, steps=30):
    """The Train form, as a person fills it: local model folder, uploaded CSV, a short run."""
    pick_radio(page, "model-kind", "Local folder or hub id")
    type_into(page, "model-path", tiny_model)
    expect(page.locator("#model-info")).to_contain_text("13 linear layers", timeout=BUSY_MS)
    pick_radio(page, "data-kind", "Upload")
    page.locator("#data-upload input[type=file]").set_input_files(str(csv_path))
    # the check tokenises with the model's tokenizer: seconds on a busy machine
    expect(page.locator("#data-report")).to_contain_text("120 rows", timeout=BUSY_MS)
    # the column mapping was guessed from the names
    expect(field(page, "col-text")).to_have_value("review")
    expect(field(page, "col-label")).to_have_value("sentiment")
    for elem, value in (("max-steps", steps), ("eval-steps", 10), ("batch-size", 8), ("max-length", 32)):
        type_into(page, elem, value, then="Tab")


def _wait_status(store, job_id, statuses, timeout=JOB_TIMEOUT_MS / 1000):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = store.get_job(job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} stayed {job['status']}: {job.get('error')}")


def _spec(tiny_model, csv_path, **training):
    from app.tabs.train import form

    values = {
        **form.FORM_DEFAULTS,
        "model_kind": form.MODEL_OTHER,
        "model_path": str(tiny_model),
        "data_kind": form.DATA_OTHER,
        "data_ref": str(csv_path),
        "col_text": "review",
        "col_label": "sentiment",
        "max_steps": 30,
        "eval_steps": 10,
        "batch_size": 8,
        "max_length": 32,
        **training,
    }
    spec, errors = form.validate_form(values)
    assert errors == []
    return spec


def finished_job(store, tiny_model, data_files, method="neat") -> dict:
    """A succeeded job of this method: the one a previous test trained, else a new one."""
    for job in store.list_jobs(status="succeeded"):
        if job["spec"]["method"]["name"] == method:
            return job
    spec = _spec(tiny_model, data_files["good"], method=method)
    return _wait_status(store, store.submit(spec), ("succeeded", "failed"))


# ---- the tests ---------------------------------------------------------------------------------


# The worker trains on every core during some checks: the page answers slowly, but it answers.
BUSY_MS = 30_000


def test_new_user_trains_a_tiny_model_and_watches_it_succeed(page, store, tiny_model, data_files):
    fill_tiny_run(page, tiny_model, data_files["good"])
    expect(page.locator("#param-budget")).to_contain_text("NEAT (r=8, depth 0)")
    expect(page.locator("#param-budget")).to_contain_text("LoRA at r=8")
    page.locator("#compare-lora").get_by_text("Compare with LoRA at equal budget").click()
    page.click("#show-yaml")
    expect(page.locator("#spec-yaml")).to_contain_text(str(tiny_model))
    # The editor draws only the lines in view; its Download link holds the whole text.
    href = page.locator("#spec-yaml a[href^='blob:']").first.get_attribute("href")
    shown = page.evaluate("async url => await (await fetch(url)).text()", href)
    assert shown.count("max_steps: 30") == 2 and "name: lora" in shown  # both jobs, the form's steps

    page.click("#start-btn")
    # Start queues the NEAT job and its LoRA twin, then shows the Jobs tab with the NEAT job selected
    expect(page.locator("#job-summary")).to_contain_text("tiny-bert-My_Reviews-neat", timeout=30_000)
    jobs = store.list_jobs()
    assert sorted(j["spec"]["method"]["name"] for j in jobs) == ["lora", "neat"]
    neat = next(j for j in jobs if j["spec"]["method"]["name"] == "neat")
    assert neat["spec"]["dataset"]["source"].startswith(str(store_home(store) / "uploads"))

    expect(page.locator("#job-summary")).to_contain_text("succeeded", timeout=JOB_TIMEOUT_MS)
    table = page.locator("#jobs-table")
    expect(table).to_contain_text("succeeded")
    expect(table).to_contain_text("100%")
    # the loss curve: train and eval loss on one chart
    expect(page.locator("#loss-plot")).to_contain_text("train loss", timeout=30_000)
    expect(page.locator("#loss-plot")).to_contain_text("eval loss")
    assert page.locator("#loss-plot g.mark-line path").count() >= 2
    expect(page.locator("#metrics-plot")).to_contain_text("accuracy")
    expect(page.locator("#job-logs")).to_contain_text("succeeded")
    expect(page.locator("#job-spec")).to_contain_text("name: tiny-bert-My_Reviews-neat")
    # the x axis can show epochs
    pick_radio(page, "x-axis", "epoch")
    expect(page.locator("#loss-plot")).to_contain_text("epoch")


def store_home(store) -> Path:
    from jobs import config

    return config.neat_home()


def test_finished_job_answers_in_the_playground(page, store, tiny_model, data_files):
    job = finished_job(store, tiny_model, data_files)
    assert job["status"] == "succeeded", job.get("error")
    open_tab(page, "Playground")
    choose(page, "pg-job", f"#{job['id']} ")
    expect(page.locator("#pg-status")).to_contain_text("labels: negative, positive", timeout=60_000)
    type_into(page, "pg-text", "the film was wonderful and a joy", then="Tab")
    page.click("#pg-predict")
    adapted = page.locator("#pg-adapted")
    expect(adapted).to_contain_text(re.compile(r"\d+(\.\d+)?%"), timeout=60_000)
    expect(adapted).to_contain_text("positive")
    expect(adapted).to_contain_text("negative")
    expect(page.locator("#pg-base")).to_contain_text(re.compile(r"\d+(\.\d+)?%"))
    # downloads: the adapter as a zip, and a merged model
    page.click("#pg-adapter-zip")
    expect(page.locator("#pg-downloads")).to_contain_text(f"job{job['id']}-adapter", timeout=60_000)
    page.click("#pg-merged-zip")
    expect(page.locator("#pg-downloads")).to_contain_text("merged", timeout=120_000)
    link = page.locator("#pg-downloads a[href$='adapter.zip']").first
    response = page.request.get(link.get_attribute("href"))
    assert response.ok and response.body()[:2] == b"PK"  # a zip archive


def test_playground_labels_clearly_positive_and_negative_reviews(page, store, tiny_model, tmp_path):
    """A run trained until it separates the classes: the Playground names the right class for a
    clearly positive and a clearly negative review (a label/probability mix-up would swap them)."""
    from tests.tiny_runs import classification_spec, sentiment_csv

    spec = classification_spec(
        tiny_model,
        sentiment_csv(tmp_path / "reviews.csv"),
        max_steps=40,
        eval_steps=20,
        learning_rate=0.2,
        head_learning_rate=0.2,
    )
    spec.name = "playground-labels"
    job = _wait_status(store, store.submit(spec), ("succeeded", "failed"))
    assert job["status"] == "succeeded", job.get("error")
    open_tab(page, "Playground")
    choose(page, "pg-job", f"#{job['id']} ")
    expect(page.locator("#pg-status")).to_contain_text("labels: negative, positive", timeout=60_000)
    top_class = page.locator("#pg-adapted [data-testid=label-output-value]")
    for text, label in (("great, lovely, good", "positive"), ("poor, awful, bad", "negative")):
        type_into(page, "pg-text", text, then="Tab")
        page.click("#pg-predict")
        expect(top_class).to_have_text(label, timeout=60_000)


def test_broken_csv_is_reported_next_to_the_dataset_field(page, store, tiny_model, data_files):
    before = len(store.list_jobs())
    pick_radio(page, "model-kind", "Local folder or hub id")
    type_into(page, "model-path", tiny_model)
    pick_radio(page, "data-kind", "Upload")
    page.locator("#data-upload input[type=file]").set_input_files(str(data_files["broken"]))
    error = page.locator("#err-dataset")
    expect(error).to_contain_text("Expected 2 fields in line 3, saw 4", timeout=BUSY_MS)
    expect(error).to_contain_text("Dataset")
    # the message sits in the Data section, right under the upload field
    upload_box = page.locator("#data-upload").bounding_box()
    error_box = error.bounding_box()
    assert 0 <= error_box["y"] - (upload_box["y"] + upload_box["height"]) < 150
    page.click("#start-btn")
    expect(page.locator("#start-status")).to_contain_text("Nothing was queued", timeout=BUSY_MS)
    assert len(store.list_jobs()) == before


def test_invalid_setting_is_reported_next_to_its_field_and_nothing_is_queued(page, store):
    before = len(store.list_jobs())
    type_into(page, "rank", 0, then="Tab")
    type_into(page, "learning-rate", 5, then="Tab")
    page.click("#start-btn")
    expect(page.locator("#err-method")).to_contain_text("Rank r")
    expect(page.locator("#err-training")).to_contain_text("Adapter learning rate")
    expect(page.locator("#err-dataset")).to_have_text("")
    expect(page.locator("#start-status")).to_contain_text("Nothing was queued")
    assert len(store.list_jobs()) == before


def test_cancel_a_running_job(page, store, tiny_model, data_files):
    spec = _spec(tiny_model, data_files["good"], max_steps=3000, eval_steps=1000, name="long-run")
    job_id = store.submit(spec)
    open_tab(page, "Jobs")
    choose(page, "job-select", f"#{job_id} long-run")
    expect(page.locator("#job-summary")).to_contain_text("running", timeout=JOB_TIMEOUT_MS)
    page.click("#job-cancel")
    # the worker trains on every core meanwhile: the app may answer slowly, but it answers
    expect(page.locator("#job-action-status")).to_contain_text(
        f"Cancel requested for job #{job_id}", timeout=BUSY_MS
    )
    expect(page.locator("#job-summary")).to_contain_text("cancelled", timeout=60_000)
    job = store.get_job(job_id)
    assert job["status"] == "cancelled"
    assert job["progress"] < 1.0
    assert job["checkpoint_step"] is not None  # cancelling saved a checkpoint to resume from

    # resume continues from that checkpoint; cancel it again, then delete it
    expect(page.locator("#job-resume")).to_be_enabled(timeout=BUSY_MS)  # the buttons follow the state
    page.click("#job-resume")
    expect(page.locator("#job-action-status")).to_contain_text(f"Resuming job #{job_id}", timeout=BUSY_MS)
    expect(page.locator("#job-summary")).to_contain_text("running", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#job-summary")).to_contain_text("resumed from step", timeout=30_000)
    expect(page.locator("#job-cancel")).to_be_enabled(timeout=BUSY_MS)  # the buttons follow the state
    page.click("#job-cancel")
    expect(page.locator("#job-action-status")).to_contain_text(
        f"Cancel requested for job #{job_id}", timeout=BUSY_MS
    )
    # the worker stops at its next step; the store says so first, the page on its next refresh
    deadline = time.monotonic() + 120
    while store.get_job(job_id)["status"] != "cancelled" and time.monotonic() < deadline:
        time.sleep(1)
    assert store.get_job(job_id)["status"] == "cancelled"
    expect(page.locator("#job-summary")).to_contain_text("cancelled", timeout=60_000)
    page.click("#job-delete")  # Delete asks first, naming the job
    expect(page.locator("#delete-confirm-text")).to_contain_text(f"#{job_id} long-run", timeout=BUSY_MS)
    page.click("#delete-confirm-btn")
    expect(page.locator("#job-action-status")).to_contain_text(f"Deleted job #{job_id}", timeout=BUSY_MS)
    # the row's removal from the table is checked in test_first_hour_jobs.py (Delete asks first)
    assert all(j["id"] != job_id for j in store.list_jobs())


def test_login_when_neat_auth_is_set(browser, start_app):
    """NEAT_AUTH=user:password puts a login page in front of the app (here without a worker)."""
    app = start_app(("--no-worker",), {"NEAT_AUTH": "ann:s3cret"})
    assert "jobs.worker" not in app.log_tail()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.goto(app.url)
        expect(page.locator("#start-btn")).to_have_count(0)
        page.get_by_label("username").fill("ann")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
        page.get_by_label("username").fill("ann")
        page.get_by_label("password").fill("s3cret")
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#start-btn")).to_be_visible(timeout=60_000)
        # the API behind the page refuses a client without the session cookie
        assert page.request.get(app.url + "gradio_api/info", headers={"cookie": ""}).status in (401, 403)
    finally:
        context.close()


def test_reload_keeps_jobs_selection_and_form(page, store, tiny_model, data_files):
    job = finished_job(store, tiny_model, data_files)
    pick_radio(page, "model-kind", "Local folder or hub id")
    type_into(page, "model-path", tiny_model)
    type_into(page, "rank", 12, then="Tab")
    open_tab(page, "Jobs")
    choose(page, "job-select", f"#{job['id']} ")
    expect(page.locator("#job-summary")).to_contain_text("succeeded")

    page.reload()
    page.wait_for_selector("#start-btn")
    expect(page.locator("#model-info")).to_contain_text("13 linear layers", timeout=60_000)
    expect(field(page, "model-path")).to_have_value(str(tiny_model))
    expect(field(page, "rank")).to_have_value("12")
    open_tab(page, "Jobs")
    table = page.locator("#jobs-table")
    for other in store.list_jobs():
        expect(table).to_contain_text(other["name"])
    expect(page.locator("#job-summary")).to_contain_text(f"#{job['id']} ")
    expect(page.locator("#job-summary")).to_contain_text("succeeded")
    expect(page.locator("#loss-plot")).to_contain_text("train loss", timeout=30_000)


def test_clone_fills_the_train_form(page, store, tiny_model, data_files):
    job = finished_job(store, tiny_model, data_files)
    open_tab(page, "Jobs")
    choose(page, "job-select", f"#{job['id']} ")
    page.click("#job-clone")
    # the form fills in one answer of many fields: seconds on a busy machine
    expect(field(page, "model-path")).to_have_value(str(tiny_model), timeout=BUSY_MS)
    expect(field(page, "run-name")).to_have_value(f"{job['name']}-copy")
    expect(field(page, "max-steps")).to_have_value(str(job["spec"]["training"]["max_steps"]))
    expect(page.locator("#start-status")).to_contain_text(f"job #{job['id']}")


@pytest.mark.timeout(1500)  # two real MiniLM runs (NEAT and its LoRA twin) on a shared 2-core CPU
def test_quick_cpu_demo_and_a_screenshot_of_every_tab(page, store, screenshot_dir):
    """The Quick CPU demo (embedded MiniLM, Rotten Tomatoes) against LoRA at equal budget, then
    each tab with something in it: the README's screenshots with --update-screenshots."""
    page.click("#preset-quick-cpu-demo")
    expect(page.locator("#data-report")).to_contain_text("12,808 rows", timeout=60_000)
    expect(field(page, "max-steps")).to_have_value("60")
    page.locator("#compare-lora").get_by_text("Compare with LoRA at equal budget").click()
    expect(page.locator("#param-budget")).to_contain_text("NEAT (r=8, depth 0)")
    page.screenshot(path=str(screenshot_dir / "train.png"), full_page=True)

    page.click("#start-btn")
    expect(page.locator("#start-status")).to_contain_text("Queued")
    ids = [int(i) for i in re.findall(r"#(\d+) ", page.inner_text("#start-status"))]
    assert len(ids) == 2
    neat, lora = (_wait_status(store, i, ("succeeded", "failed"), timeout=400) for i in ids)
    assert neat["status"] == lora["status"] == "succeeded", (neat.get("error"), lora.get("error"))
    assert (neat["spec"]["method"]["name"], lora["spec"]["method"]["name"]) == ("neat", "lora")

    expect(page.locator("#job-summary")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#loss-plot")).to_contain_text("eval loss", timeout=30_000)
    expect(page.locator("#jobs-table")).not_to_contain_text("running", timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "jobs.png"), full_page=True)

    open_tab(page, "Compare")
    for job in (neat, lora):
        choose(page, "compare-select", f"#{job['id']} ")
    page.locator("h1").first.click()  # close the dropdown
    expect(page.locator("#compare-diff")).to_contain_text("method.name")
    expect(page.locator("#compare-plot")).to_contain_text(f"#{lora['id']} ", timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "compare.png"), full_page=True)

    open_tab(page, "Evaluate")  # the demo holds out a test split: both runs' scores side by side
    for job in (neat, lora):
        page.locator("#eval-results input").first.click()
        page.locator("[role=option]", has_text=f"test split of #{job['id']} ").first.click()
    page.locator("h1").first.click()  # close the dropdown
    for panel, job in enumerate((neat, lora)):
        expect(page.locator(f"#eval-heading-{panel}")).to_contain_text(f"#{job['id']} ", timeout=30_000)
        expect(page.locator(f"#eval-metrics-{panel}")).to_contain_text("accuracy")
        expect(page.locator(f"#eval-confusion-{panel}")).to_contain_text("true label", timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "evaluate.png"), full_page=True)

    open_tab(page, "Playground")
    choose(page, "pg-job", f"#{neat['id']} ")
    expect(page.locator("#pg-status")).to_contain_text("labels: fresh, rotten", timeout=60_000)
    type_into(page, "pg-text", "an utterly charming and hilarious film", then="Tab")
    page.click("#pg-predict")
    expect(page.locator("#pg-adapted")).to_contain_text("%", timeout=60_000)
    expect(page.locator("#pg-adapted [data-testid=status-tracker].pending")).to_have_count(0)
    page.wait_for_timeout(1000)  # let the result fade in
    page.screenshot(path=str(screenshot_dir / "playground.png"), full_page=True)

    open_tab(page, "Insight")
    choose(page, "insight-neat", f"#{neat['id']} ")
    choose(page, "insight-lora", f"#{lora['id']} ")
    page.click("#insight-run")
    expect(page.locator("#insight-summary")).to_contain_text("effective rank", timeout=60_000)
    expect(page.locator("#insight-spectrum")).to_contain_text(f"#{lora['id']} lora", timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "insight.png"), full_page=True)
    for name in ("train", "jobs", "compare", "evaluate", "playground", "insight"):
        assert (screenshot_dir / f"{name}.png").stat().st_size > 10_000
