"""A newcomer's first hour, in Chromium against the real app and worker: no uncaught page errors
through a whole run, charts that show their first point, Delete that asks first, a Playground
that never shows another job's results, and a chat that remembers the conversation."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

from tests.e2e.test_browser import JOB_TIMEOUT_MS, _spec, _wait_status, choose, field, fill_tiny_run, open_tab
from tests.needs import require_module

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect = require_module("playwright.sync_api").expect


@pytest.fixture(autouse=True)
def patient_expect():
    """Checks wait up to 30 s (not 5): on a busy 2-core machine a dataset check can take longer."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


def quick_job(store, tiny_model, csv, name: str, steps: int = 2) -> dict:
    """A finished tiny classification job queued through jobs.api (the UI path is tested elsewhere)."""
    spec = dataclasses.replace(_spec(tiny_model, csv, max_steps=steps), name=name)
    job = _wait_status(store, store.submit(spec), ("succeeded", "failed"))
    assert job["status"] == "succeeded", job.get("error")
    return job


def chat_job(store, tmp_path: Path) -> dict:
    from neat.engine.spec import ColumnMap, DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec
    from tests.tiny_runs import chat_jsonl, tiny_llama_folder

    model = tiny_llama_folder(tmp_path / "tiny-llama")
    data = chat_jsonl(tmp_path / "chat.jsonl")
    spec = RunSpec(
        name="tiny-chat",
        task="causal-lm",
        model=ModelSpec(str(model)),
        dataset=DataSpec(str(data), ColumnMap(prompt="prompt", response="response")),
        method=MethodSpec("neat", r=4),
        training=TrainingSpec(max_steps=2, batch_size=4, eval_steps=10, max_length=48, precision="fp32"),
    )
    job = _wait_status(store, store.submit(spec), ("succeeded", "failed"))
    assert job["status"] == "succeeded", job.get("error")
    return job


def test_a_whole_quick_run_raises_no_page_error(page, store, tiny_model, data_files):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    expect(page.locator("#hardware-line")).to_contain_text("cores")
    expect(page.locator("#hardware-line")).to_contain_text("RAM free")
    fill_tiny_run(page, tiny_model, data_files["good"], steps=30)
    page.click("#start-btn")
    expect(page.locator("#job-summary")).to_contain_text("running", timeout=60_000)
    expect(page.locator("#job-summary")).to_contain_text("succeeded", timeout=JOB_TIMEOUT_MS)
    # eval loss joined the chart after train loss: drawn without blanking the chart first
    expect(page.locator("#loss-plot")).to_contain_text("eval loss", timeout=30_000)
    assert page.locator("#loss-plot g.mark-line path").count() >= 2
    for tab in ("Compare", "Playground", "Insight", "Jobs", "Train", "Jobs"):
        open_tab(page, tab)
        page.wait_for_timeout(300)
    page.wait_for_timeout(2_500)  # a refresh tick or two on the Jobs tab
    assert errors == []


def test_an_idle_page_sends_no_events_and_an_open_tab_refreshes(page):
    """A page left open costs nothing: no event loops between form fields, no refresh of tabs
    that are not shown; the open Jobs tab refreshes itself."""
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.post_data or "") if "queue/join" in r.url else None)
    page.wait_for_timeout(6_000)  # on the Train tab: nothing changes, only the footer may tick
    assert len(calls) <= 1, calls
    open_tab(page, "Jobs")
    page.wait_for_timeout(500)
    calls.clear()
    page.wait_for_timeout(6_000)
    assert len(calls) >= 2  # the Jobs tab's table and details, every 2 s


def test_a_single_point_shows_a_marker_and_an_empty_chart_says_so(page, store, tiny_model, data_files):
    open_tab(page, "Jobs")
    for chart in ("#loss-plot", "#metrics-plot", "#lr-plot"):  # nothing selected yet
        expect(page.locator(chart)).to_contain_text("no points yet")
    job = quick_job(store, tiny_model, data_files["good"], "one-step", steps=1)
    assert (
        len([p for p in store.get_metrics(job["id"]) if p["name"] == "loss" and p["split"] == "train"]) == 1
    )
    choose(page, "job-select", f"#{job['id']} ")
    expect(page.locator("#job-summary")).to_contain_text("succeeded")
    line = page.locator("#loss-plot g.mark-line path").first
    expect(line).to_be_attached(timeout=30_000)
    assert "L" not in line.get_attribute("d")  # one point: a line of no length...
    width = line.evaluate("p => getComputedStyle(p).strokeWidth")
    cap = line.evaluate("p => getComputedStyle(p).strokeLinecap")
    assert (width, cap) == ("9px", "round")  # ...drawn as a round marker
    box = line.bounding_box()
    assert box and box["width"] >= 8 and box["height"] >= 8
    expect(page.locator("#loss-plot")).not_to_contain_text("no points yet")
    # deselected again (the job deleted), every chart is empty and says so
    store.delete(job["id"])
    expect(page.locator("#job-summary")).to_contain_text("does not exist")
    for chart in ("#loss-plot", "#metrics-plot", "#lr-plot"):
        expect(page.locator(chart)).to_contain_text("no points yet")


def test_delete_asks_first_and_can_keep_the_files(page, store, tiny_model, data_files):
    keep = quick_job(store, tiny_model, data_files["good"], "keep-my-files", steps=10)
    drop = quick_job(store, tiny_model, data_files["good"], "drop-me", steps=2)
    open_tab(page, "Jobs")
    choose(page, "job-select", f"#{keep['id']} ")
    expect(page.locator("#job-summary")).to_contain_text("succeeded")
    expect(page.locator("#job-cancel")).to_be_disabled()  # a finished job cannot be cancelled
    expect(page.locator("#job-playground")).to_be_enabled()
    page.click("#job-delete")
    question = page.locator("#delete-confirm-text")
    expect(question).to_contain_text(f"Delete job #{keep['id']} keep-my-files?")
    expect(question).to_contain_text("the trained adapter and 1 checkpoint")
    expect(question).to_contain_text(keep["output_dir"])
    assert store.get_job(keep["id"])  # asking deleted nothing
    page.click("#delete-back-btn")
    expect(page.locator("#job-action-status")).to_contain_text("Nothing was deleted")
    assert store.get_job(keep["id"])
    # a message belongs to its job: another selection clears it
    choose(page, "job-select", f"#{drop['id']} ")
    expect(page.locator("#job-summary")).to_contain_text(f"#{drop['id']} ")
    expect(page.locator("#job-action-status")).not_to_contain_text("Nothing was deleted")

    choose(page, "job-select", f"#{keep['id']} ")
    expect(page.locator("#job-summary")).to_contain_text(f"#{keep['id']} ")  # the selection is in
    page.click("#job-delete")
    page.locator("#delete-keep-files input").check()
    page.click("#delete-confirm-btn")
    expect(page.locator("#job-action-status")).to_contain_text(f"Deleted job #{keep['id']}")
    expect(page.locator("#job-action-status")).to_contain_text("run folder was kept")
    assert all(j["id"] != keep["id"] for j in store.list_jobs())
    assert (Path(keep["output_dir"]) / "adapter").is_dir()  # the files stayed

    choose(page, "job-select", f"#{drop['id']} ")
    expect(page.locator("#job-summary")).to_contain_text(f"#{drop['id']} ")
    page.click("#job-delete")
    expect(page.locator("#delete-confirm-text")).to_contain_text(f"#{drop['id']} drop-me")
    page.click("#delete-confirm-btn")
    expect(page.locator("#job-action-status")).to_contain_text(f"Deleted job #{drop['id']}.")
    expect(page.locator("#jobs-table")).not_to_contain_text("drop-me")
    assert not Path(drop["output_dir"]).exists()


def test_playground_after_switching_jobs_shows_no_stale_result(page, store, tiny_model, data_files):
    first = quick_job(store, tiny_model, data_files["good"], "first-job")
    second = quick_job(store, tiny_model, data_files["good"], "second-job")
    open_tab(page, "Playground")
    choose(page, "pg-job", f"#{first['id']} ")
    expect(page.locator("#pg-status")).to_contain_text("labels: negative, positive", timeout=60_000)
    expect(page.locator("#pg-adapter-note")).to_contain_text("freshly initialised")
    field(page, "pg-text").fill("the film was wonderful and a joy")
    page.click("#pg-predict")
    expect(page.locator("#pg-result")).to_contain_text(re.compile(rf"#{first['id']} first-job: \w+ \d+%"))
    expect(page.locator("#pg-base")).to_contain_text("coin flip")
    page.click("#pg-adapter-zip")
    expect(page.locator("#pg-downloads")).to_contain_text(f"job{first['id']}-adapter", timeout=60_000)

    choose(page, "pg-job", f"#{second['id']} ")
    expect(page.locator("#pg-adapted")).to_contain_text(f"#{second['id']} second-job")
    expect(page.locator("#pg-result")).not_to_contain_text(f"#{first['id']}")
    expect(page.locator("#pg-adapted")).not_to_contain_text("%")
    expect(page.locator("#pg-downloads")).to_be_hidden()
    page.click("#pg-predict")
    expect(page.locator("#pg-result")).to_contain_text(f"#{second['id']} second-job:")

    page.reload()  # the last tab opened comes back
    expect(page.get_by_role("tab", name="Playground")).to_have_attribute(
        "aria-selected", "true", timeout=30_000
    )


def _selected_after_reload(page, tab: str) -> None:
    page.reload()
    expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true", timeout=30_000)


def test_a_tab_opened_by_a_button_comes_back_after_reload(page, store, tiny_model, data_files):
    job = quick_job(store, tiny_model, data_files["good"], "jump-job")
    open_tab(page, "Jobs")
    choose(page, "job-select", f"#{job['id']} ")
    expect(page.locator("#job-playground")).to_be_enabled(timeout=30_000)
    page.click("#job-playground")  # opens the Playground itself; no tab was clicked
    expect(page.get_by_role("tab", name="Playground")).to_have_attribute("aria-selected", "true")
    _selected_after_reload(page, "Playground")

    open_tab(page, "Jobs")
    choose(page, "job-select", f"#{job['id']} ")
    expect(page.locator("#job-clone")).to_be_enabled(timeout=30_000)
    page.click("#job-clone")  # back to the Train form, which a reload must not leave for Jobs
    expect(page.get_by_role("tab", name="Train")).to_have_attribute("aria-selected", "true")
    _selected_after_reload(page, "Train")


def _settled_text(page, selector: str, quiet_ms: int = 1_500, timeout_s: float = 60) -> str:
    """The element's text once it stopped changing (a streamed answer that ended)."""
    deadline, last, since = time.time() + timeout_s, None, time.time()
    while time.time() < deadline:
        text = page.inner_text(selector)
        if text != last:
            last, since = text, time.time()
        elif time.time() - since >= quiet_ms / 1000:
            return text
        page.wait_for_timeout(200)
    raise AssertionError(f"{selector} kept changing")


def _prompt_tokens(page) -> tuple[int, int]:
    """(base, adapted): how many prompt tokens each model read for the last turn."""
    status = page.inner_text("#pg-chat-status")
    base = re.search(r"base model read (\d+) prompt tokens", status)
    adapted = re.search(r"the adapted one (\d+)", status)
    assert base and adapted, status
    return int(base.group(1)), int(adapted.group(1))


def test_chat_is_multi_turn_and_the_second_answer_reads_the_first(page, store, tmp_path):
    job = chat_job(store, tmp_path)
    open_tab(page, "Playground")
    choose(page, "pg-job", f"#{job['id']} ")
    expect(page.locator("#pg-prompt")).to_be_visible(timeout=60_000)
    for slider, value in (("pg-max-new", 8), ("pg-temperature", 0)):
        box = page.locator(f"#{slider} input[type=number]")
        box.fill(str(value))
        box.press("Tab")
    field(page, "pg-prompt").fill("say hello 1")
    page.click("#pg-generate")
    expect(page.locator("#pg-chat-status")).to_contain_text("Turn 1", timeout=60_000)
    _settled_text(page, "#pg-chat-adapted")
    first = _prompt_tokens(page)

    field(page, "pg-prompt").fill("and once more")
    page.click("#pg-generate")
    expect(page.locator("#pg-chat-status")).to_contain_text("Turn 2", timeout=60_000)
    _settled_text(page, "#pg-chat-adapted")
    for chat in ("#pg-chat-base", "#pg-chat-adapted"):
        text = page.inner_text(chat)
        assert text.index("say hello 1") < text.index("and once more")  # both turns, in order
    second = _prompt_tokens(page)
    # the second prompt holds the first exchange (question and answer) before the new question
    assert second[0] > first[0] + 3 and second[1] > first[1] + 3
