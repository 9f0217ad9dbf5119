"""A newcomer's first hour in the Train tab, in Chromium against the real app and worker: the
dataset check catches the text column picked as labels, warns when the chat task meets a
classification file, and says what max_length will cut."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_browser import choose, field, pick_radio, type_into
from tests.needs import require_module

pytestmark = [pytest.mark.browser, pytest.mark.slow]

expect = require_module("playwright.sync_api").expect


@pytest.fixture
def reviews(tmp_path):
    """200 reviews with a one-line summary each and two sentiments: the file a newcomer uploads."""
    path = tmp_path / "first reviews.csv"
    rows = ["review,summary,sentiment"]
    for i in range(200):
        word, label = ("wonderful", "positive") if i % 2 else ("dull", "negative")
        rows.append(f'"review {i}: the film was {word} from start to end","film {i}: {word}",{label}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_dataset_check_catches_a_newcomers_mapping_mistakes(page, reviews):
    report, error = page.locator("#data-report"), page.locator("#err-dataset")
    page.click("#show-yaml")
    expect(page.locator("#spec-yaml")).to_contain_text("source: rotten_tomatoes")
    pick_radio(page, "data-kind", "Upload")
    # the upload widget has the section's full width: its label, "Drop File Here" and the name fit
    assert page.locator("#data-upload").bounding_box()["width"] > 0.8 * page.viewport_size["width"]
    page.locator("#data-upload input[type=file]").set_input_files(str(reviews))
    expect(report).to_contain_text("200 rows")
    # the whole name (Gradio draws the stem and the extension apart; a squeezed widget cuts it to "f….csv")
    expect(page.locator("#data-upload")).to_contain_text(re.compile(r"first reviews\s*\.csv"))
    # the YAML shown before the upload follows the form: no stale spec
    expect(page.locator("#spec-yaml")).to_contain_text(re.compile(r"source: .*first.reviews\.csv"))
    expect(page.locator("#spec-yaml")).not_to_contain_text("rotten_tomatoes")
    expect(field(page, "col-label")).to_have_value("sentiment")
    # the check measures tokens with the model's tokenizer: what max_length cuts is said up front
    type_into(page, "max-length", 8, then="Tab")
    expect(report).to_contain_text("100% of rows are longer than max_length 8 tokens and will be cut")
    expect(report).not_to_contain_text("✓")  # a warning: no green check
    type_into(page, "max-length", 128, then="Tab")
    expect(report).to_contain_text("no row is longer than max_length 128 tokens")
    expect(report).to_contain_text("Dataset check ✓")

    # a text column picked as the label column: a clear error, no check mark, no "200 classes"
    choose(page, "col-label", "summary")
    expect(error).to_contain_text("label column 'summary' looks like a text column")
    expect(error).to_contain_text("200 distinct values in 200 rows")
    expect(report).not_to_contain_text("✓")
    expect(report).not_to_contain_text("classes")
    choose(page, "col-label", "sentiment")
    expect(report).to_contain_text("Dataset check ✓")
    expect(error).to_have_text("")

    # the chat task with this CSV still loaded: the missing columns are named, with the real ones
    choose(page, "task", "causal-lm")
    expect(error).to_contain_text("prompt column 'prompt' not found")
    expect(error).to_contain_text("response column 'response' not found")
    expect(error).to_contain_text("Available columns: review, summary, sentiment")
    expect(report).not_to_contain_text("✓")
    page.click("#start-btn")
    expect(page.locator("#start-status")).to_contain_text("Nothing was queued")


def test_a_preset_sets_what_it_owns_and_says_what_it_changed(page):
    page.click("#preset-quick-cpu-demo")
    expect(page.locator("#preset-note")).to_contain_text("Preset Quick CPU demo")
    expect(field(page, "max-steps")).to_have_value("60")
    page.click("#preset-neat-s")
    note = page.locator("#preset-note")
    expect(note).to_contain_text("Preset NEAT-S")
    expect(note).to_contain_text("Max steps 60 → off (epochs decide)")
    expect(note).to_contain_text("Max training rows 1,200 → all rows")
    expect(note).to_contain_text("Max length 64 → 128")
    expect(field(page, "max-steps")).to_have_value("")
    expect(field(page, "max-length")).to_have_value("128")


def test_the_rates_follow_the_method_unless_typed_by_hand(page):
    from neat.engine.defaults import method_defaults

    def rate(method):
        return method_defaults("classification", method)["training"]["learning_rate"]

    lr, note = field(page, "learning-rate"), page.locator("#preset-note")
    expect(lr).to_have_value(f"{rate('neat'):g}")
    # full fine-tuning at an adapter's rate would wreck the model in a few steps
    pick_radio(page, "method", "full")
    expect(lr).to_have_value(f"{rate('full'):g}")
    expect(note).to_contain_text("Full fine-tuning for classification starts from its own defaults")
    pick_radio(page, "method", "neat")
    expect(lr).to_have_value(f"{rate('neat'):g}")
    # a rate typed by hand is the user's: a method switch keeps it
    type_into(page, "learning-rate", "0.003", then="Tab")
    pick_radio(page, "method", "full")
    page.click("#show-yaml")
    expect(page.locator("#spec-yaml")).to_contain_text("name: full")
    expect(lr).to_have_value("0.003")
