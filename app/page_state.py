"""What the page keeps across reloads and shows on every tab: the last tab opened (browser
storage) and the footer's hardware line (devices, free memory, what runs now)."""

from __future__ import annotations

import gradio as gr

from app import backend

FOOTER_EVERY_S = 10.0  # nvidia-smi and /proc are cheap, but not every 2 s for every page


class OpenTab:
    """Which tab is open: the tabs themselves, the browser's record of the last one (a reload
    opens it again) and the refresh timers that tick only while their tab is open. A timer's
    tick is cheap for the server but not for the page: every event makes Gradio's frontend
    walk its whole state, so ticks for hidden tabs kept a browser core busy."""

    def __init__(self, tabs: gr.Tabs, timers: dict[str, gr.Timer], opened: dict[str, gr.State]):
        self.tabs = tabs
        self.timers = timers  # tab id -> the timer that refreshes it
        # tab id -> a flag set True each time the tab opens: its next tick redraws everything,
        # now that the tab is shown (charts drawn while their tab was hidden can stay blank)
        self.opened = opened
        self.last = gr.BrowserState(None, storage_key="neat-studio-last-tab")

    @property
    def outputs(self) -> list:
        """What opening a tab updates, in the order of open()'s values."""
        return [self.tabs, self.last, *self.timers.values(), *self.opened.values()]

    @property
    def timer_outputs(self) -> list:
        """What timer_updates() updates."""
        return [*self.timers.values(), *self.opened.values()]

    def timer_updates(self, tab_id: str | None) -> list:
        """Each tab's timer runs only while it is open; the opened tab's flag is raised."""
        return [gr.Timer(active=tab_id == owner) for owner in self.timers] + [
            True if tab_id == owner else gr.skip() for owner in self.opened
        ]

    def open(self, tab_id: str) -> list:
        """Values for `outputs` when a handler opens `tab_id` itself (Start, Clone, ...)."""
        return [gr.Tabs(selected=tab_id), tab_id, *self.timer_updates(tab_id)]

    def updates(self, tab_id: str) -> dict:
        """open() as a {component: value} dict, for handlers that return one."""
        return dict(zip(self.outputs, self.open(tab_id), strict=True))


def wire_open_tab(demo: gr.Blocks, open_tab: OpenTab, pages: list[gr.Tab]) -> None:
    """Opening a tab stores its id in the browser and starts its timer; a reload opens the
    stored tab again."""
    ids = [page.id for page in pages if page.id]
    by_label = {page.label: page.id for page in pages if page.id}
    timers = open_tab.timer_outputs

    def picked(evt: gr.SelectData):
        # the event names the tab by its label (and position)
        if evt.value in by_label:
            tab_id = by_label[evt.value]
        else:
            index = evt.index if isinstance(evt.index, int) else -1
            tab_id = ids[index] if 0 <= index < len(ids) else None
        if tab_id is None:
            return [gr.skip()] * (1 + len(timers))
        return [tab_id, *open_tab.timer_updates(tab_id)]

    open_tab.tabs.select(picked, None, [open_tab.last, *timers], show_progress="hidden", queue=False)

    def restore(saved):
        if saved not in ids:
            return [gr.skip(), *open_tab.timer_updates(None)]
        return [gr.Tabs(selected=saved), *open_tab.timer_updates(saved)]

    demo.load(restore, [open_tab.last], [open_tab.tabs, *timers], show_progress="hidden")


def wire_footer(demo: gr.Blocks) -> None:
    """The hardware line under the tabs, filled on load and refreshed every FOOTER_EVERY_S."""
    line = gr.Markdown("", elem_id="hardware-line")
    timer = gr.Timer(FOOTER_EVERY_S)

    def refresh():
        try:
            return backend.hardware_line()
        except Exception as exc:  # noqa: BLE001 - the store unreachable: say so, keep the page
            return f"⚠ {backend.user_message(exc)}"

    demo.load(refresh, None, [line], show_progress="hidden")
    timer.tick(refresh, None, [line], show_progress="hidden", trigger_mode="always_last")
