"""What the page keeps across reloads and shows on every tab: the last tab opened (browser
storage) and the footer's hardware line (devices, free memory, what runs now)."""

from __future__ import annotations

import time

import gradio as gr

from app import backend

FOOTER_EVERY_S = 10.0  # nvidia-smi and /proc are cheap, but not every 2 s for every page


def last_tab_store() -> gr.BrowserState:
    """The browser's record of the last tab opened: set when the user picks a tab and by every
    handler that opens one itself (Start, Clone, Try in Playground)."""
    return gr.BrowserState(None, storage_key="neat-studio-last-tab")


def wire_last_tab(demo: gr.Blocks, tabs: gr.Tabs, pages: list[gr.Tab], last: gr.BrowserState) -> None:
    """Opening a tab stores its id in the browser; a reload opens that tab again."""
    ids = [page.id for page in pages if page.id]
    by_label = {page.label: page.id for page in pages if page.id}

    def remember(evt: gr.SelectData):
        # the event names the tab by its label (and position); store its id
        if evt.value in by_label:
            return by_label[evt.value]
        index = evt.index if isinstance(evt.index, int) else -1
        return ids[index] if 0 <= index < len(ids) else gr.skip()

    tabs.select(remember, None, [last], show_progress="hidden", queue=False)

    def restore(saved):
        return gr.Tabs(selected=saved) if saved in ids else gr.skip()

    demo.load(restore, [last], [tabs], show_progress="hidden")


def wire_footer(demo: gr.Blocks, timer: gr.Timer) -> None:
    """The hardware line under the tabs, filled on load and refreshed every FOOTER_EVERY_S."""
    line = gr.Markdown("", elem_id="hardware-line")
    shown_at = gr.State(0.0)

    def refresh(last: float, force: bool = False):
        now = time.monotonic()
        if not force and now - (last or 0.0) < FOOTER_EVERY_S:
            return gr.skip(), last
        try:
            return backend.hardware_line(), now
        except Exception as exc:  # noqa: BLE001 - the store unreachable: say so, keep the page
            return f"⚠ {backend.user_message(exc)}", now

    demo.load(lambda last: refresh(last, force=True), [shown_at], [line, shown_at], show_progress="hidden")
    timer.tick(refresh, [shown_at], [line, shown_at], show_progress="hidden", trigger_mode="always_last")
