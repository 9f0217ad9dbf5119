"""The upload widget in a real browser: a file the browser refuses as too large, or clearing the
widget, leaves no stored file behind for Start to train on."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.test_browser import pick_radio


def _csv(path, rows: int):
    lines = ["review,sentiment"] + [f"film {i} was {'good' if i % 2 else 'bad'},{i % 2}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_refused_or_cleared_upload_forgets_the_stored_file(browser, start_app, tmp_path):
    app = start_app(("--no-worker",), {"NEAT_MAX_UPLOAD_MB": "0.01"})  # 10 KB
    small, large = _csv(tmp_path / "small.csv", 40), _csv(tmp_path / "large.csv", 2000)
    assert small.stat().st_size < 10_000 < large.stat().st_size
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(app.url)
        page.wait_for_selector("#start-btn")
        pick_radio(page, "data-kind", "Upload")
        stored = page.locator("#data-stored textarea")
        page.locator("#data-upload input[type=file]").set_input_files(str(small))
        expect(stored).to_have_value(re.compile(r"small\.csv$"), timeout=60_000)

        page.locator("#data-upload").get_by_role("button", name="Clear").click()
        expect(stored).to_have_value("", timeout=30_000)  # cleared widget, no stored file
        page.locator("#data-upload input[type=file]").set_input_files(str(large))  # over the limit
        expect(page.get_by_text("exceed the maximum allowed size").first).to_be_visible(timeout=30_000)
        expect(stored).to_have_value("")
        page.click("#start-btn")
        expect(page.locator("#start-status")).to_contain_text("Nothing was queued", timeout=60_000)
        expect(page.locator("#err-dataset")).to_contain_text("must name a built-in dataset")
    finally:
        context.close()
