"""The Train tab: model, task, data (preview, column mapping, check), method settings, YAML, Start.

form.py        the form as data: one table of fields -> defaults, labels, form <-> spec
assistants.py  model and data summaries, parameter budget, dataset check (no Gradio)
presets.py     presets: full settings for the fields they own, saying what they changed
prepare.py     the one-time preparation of an embedded model, announced and counted
start.py       plan the run(s) and queue them
layout.py      the components
events.py      the tab's own wiring (Start and Clone, which cross tabs: app/ui.py)
"""

from __future__ import annotations

from app.tabs.train import events, layout
from app.tabs.train.layout import TrainTab


def build() -> TrainTab:
    """Draw the Train tab (inside a gr.Tab context) and wire its own events."""
    tab = layout.build()
    events.wire(tab)
    return tab
