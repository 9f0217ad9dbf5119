"""The Evaluate tab in Chromium against the real app and worker: a finished job is scored on a
file with partly wrong labels; the evaluation runs in the worker (listed in Jobs), and the page
then shows its metrics with n, the confusion matrix and the most confident mistake."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from tests.needs import require_module

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect = require_module("playwright.sync_api").expect
JOB_TIMEOUT_S = 240


def _wait_status(store, job_id, statuses=("succeeded", "failed"), timeout=JOB_TIMEOUT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = store.get_job(job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} stayed {job['status']}: {job.get('error')}")


def _finished_run(store, tiny_model, csv_path) -> dict:
    """A tiny classifier trained by the app's worker, with a held-out test split."""
    from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec

    spec = RunSpec(
        name="to-evaluate",
        task="classification",
        model=ModelSpec(str(tiny_model)),
        dataset=DataSpec(
            str(csv_path),
            ColumnMap(text="review", label="sentiment"),
            validation_fraction=0.2,
            test_fraction=0.2,
        ),
        method=MethodSpec("neat", r=4, depth=1),
        training=TrainingSpec(
            max_steps=20,
            eval_steps=10,
            batch_size=8,
            max_length=32,
            learning_rate=5e-2,
            head_learning_rate=5e-2,
            warmup_ratio=0.0,
        ),
    )
    job = _wait_status(store, store.submit(spec))
    assert job["status"] == "succeeded", job["error"]
    return job


def _flipped_reviews(folder) -> str:
    """Reviews like the training data, every third label swapped: mistakes a good model makes."""
    rows = ["review,sentiment"]
    pos, neg = ["wonderful", "a joy", "moving"], ["dull", "a mess", "tedious"]
    for i in range(30):
        positive = i % 2 == 1
        words = pos if positive else neg
        label = "positive" if positive == bool(i % 3) else "negative"
        rows.append(f'"the film {i} was {words[i % 3]} and {words[(i // 2) % 3]}",{label}')
    path = folder / "flipped reviews.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_evaluate_a_finished_job_and_see_its_errors(
    page, store, app_server, tiny_model, data_files, tmp_path_factory
):
    run = _finished_run(store, tiny_model, data_files["good"])
    data = _flipped_reviews(tmp_path_factory.mktemp("to_score"))

    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-jobs input").first.click()
    page.locator("[role=option]", has_text=f"#{run['id']} ").first.click()
    page.keyboard.press("Escape")
    page.locator("#eval-data-kind").get_by_text("A file on the server", exact=True).click()
    page.locator("#eval-path textarea, #eval-path input").first.fill(data)
    page.click("#eval-start")
    expect(page.locator("#eval-status")).to_contain_text("Queued evaluation", timeout=30_000)

    # it runs in the worker, as a job of its own
    evaluation = next(j for j in store.list_jobs(kind="evaluate") if j["spec"]["run_job"] == run["id"])
    done = _wait_status(store, evaluation["id"])
    assert done["status"] == "succeeded", done["error"]

    # the page picks the result up by itself (no reload, no click)
    heading = page.locator("#eval-heading-0")
    expect(heading).to_contain_text("30 examples", timeout=30_000)
    expect(heading).to_contain_text(f"#{run['id']} to-evaluate")
    metrics = page.locator("#eval-metrics-0")
    expect(metrics).to_contain_text("accuracy")
    expect(metrics).to_contain_text(" to ")  # the 95% interval of an accuracy over 30 examples
    confusion = page.locator("#eval-confusion-0")
    expect(confusion).to_contain_text("true label", timeout=30_000)
    expect(confusion).to_contain_text("negative")
    assert confusion.locator("svg path, svg rect").count() > 0  # the cells are drawn

    predictions = pd.read_csv(done["output_dir"] + "/predictions.csv")
    wrong = predictions[predictions["label"] != predictions["prediction"]]
    assert len(wrong) > 0
    # predictions.csv names the input column by its role; ties keep the file's order
    most_confident = wrong.sort_values("confidence", ascending=False, kind="stable").iloc[0]["text"]
    errors = page.locator("#eval-errors-0")
    first_row = errors.locator(".virtual-row[data-index='0']")  # not the hidden sizing rows
    expect(first_row).to_contain_text(str(most_confident))
    expect(page.locator("#eval-download-0")).to_contain_text("predictions.csv")

    page.get_by_role("tab", name="Jobs").click()
    expect(page.locator("#jobs-table")).to_contain_text(f"evaluation of #{run['id']}", timeout=30_000)


def test_compare_legend_names_id_and_method_and_steps_are_whole(page, store, tiny_model, data_files):
    """Compare's overlay: legend entries "#id method" (never cut where names differ) and an x
    axis whose step ticks are whole numbers."""
    runs = store.list_jobs(status="succeeded", kind="train")
    run = runs[0] if runs else _finished_run(store, tiny_model, data_files["good"])
    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-select input").first.click()
    page.locator("[role=option]", has_text=f"#{run['id']} ").first.click()
    page.locator("h1").first.click()  # close the dropdown
    plot = page.locator("#compare-plot")
    expect(plot).to_contain_text(f"#{run['id']} neat", timeout=30_000)
    x_axis = plot.locator("g.role-axis[aria-label^='X-axis'] g.role-axis-label text")
    expect(x_axis.first).to_be_visible(timeout=30_000)
    ticks = x_axis.all_text_contents()  # SVG text has no innerText
    assert ticks and all(t.strip().isdigit() for t in ticks), ticks
