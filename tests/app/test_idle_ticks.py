"""The Jobs and Evaluate tabs' refresh ticks: a tick that finds nothing new writes nothing,
not even its stamp of what is shown.

Why the stamp matters: a tick reads its stamp when it starts. If an action (Cancel, say)
redraws the buttons while the tick runs and the tick then writes its old stamp back, the
stamp no longer describes the page, and every later tick skips a view that is wrong (CI once
saw Resume stay disabled for good after a cancel).
"""

from __future__ import annotations

import gradio as gr

from app.ui import build_app
from neat.engine.spec import example_spec

SKIP = gr.skip()


def _event(demo: gr.Blocks, name: str):
    found = [f for f in demo.fns.values() if f.name == name]
    assert len(found) == 1, [f.name for f in demo.fns.values()]
    return found[0]


def _yields(fn, *args) -> list[list]:
    """Every update a handler sends: each yield of a generator, or a plain one's return value."""
    out = fn.fn(*args, request=gr.Request())
    return [out] if isinstance(out, list) else [list(y) for y in out]


def _first(fn, *args) -> list:
    return _yields(fn, *args)[0]


def _sends_nothing(fn, *args) -> bool:
    return all(y == [SKIP] * len(y) for y in _yields(fn, *args))


def test_an_idle_jobs_tick_writes_nothing_and_a_change_writes_everything(neat_home):
    from jobs import api, store

    job_id = api.submit(example_spec("classification"))
    demo = build_app()
    table_tick, details_tick = _event(demo, "refresh_table"), _event(demo, "details_tick")

    first = _first(table_tick, "all", "", 0, str(job_id), None)
    assert isinstance(first[-1], tuple)  # the stamp of what is shown
    assert _sends_nothing(table_tick, "all", "", 0, str(job_id), first[-1])

    shown = _first(details_tick, str(job_id), "step", None, None, False)
    detail_stamp, button_stamp = shown[6], shown[-2]
    assert isinstance(detail_stamp, tuple) and isinstance(button_stamp, tuple)
    assert shown[-1] == SKIP  # the tab's "just opened" flag is left alone
    assert _sends_nothing(details_tick, str(job_id), "step", detail_stamp, button_stamp, False)

    # the first tick after the tab opens redraws everything, charts' colours included (a chart
    # drawn while its tab was hidden can stay blank), and lowers the flag
    opened = _yields(details_tick, str(job_id), "step", detail_stamp, button_stamp, True)
    assert opened[0][6] == detail_stamp and "queued" in opened[0][0] and opened[0][-1] is False
    assert len(opened) == 2 and all(u != SKIP for u in opened[1][1:4])  # the legends step

    # the job moves on: the tick redraws the buttons and writes their new stamp
    store.set_status(job_id, "running")
    moved = _first(details_tick, str(job_id), "step", detail_stamp, button_stamp, False)
    assert moved[-2] != button_stamp and moved[-2] != SKIP
    assert moved[6] != detail_stamp and "running" in moved[0]


def test_opening_a_tab_raises_its_flag_and_starts_only_its_timer():
    from app.page_state import OpenTab

    with gr.Blocks():
        tabs = gr.Tabs()
        timers = {"jobs": gr.Timer(active=False), "evaluate": gr.Timer(active=False)}
        open_tab = OpenTab(tabs, timers, {"jobs": gr.State(False)})
    jobs = open_tab.updates("jobs")
    assert jobs[open_tab.opened["jobs"]] is True
    assert jobs[timers["jobs"]].active is True and jobs[timers["evaluate"]].active is False
    assert open_tab.updates("evaluate")[open_tab.opened["jobs"]] == SKIP


def test_an_idle_evaluate_tick_writes_nothing(neat_home):
    demo = build_app()
    tick = _event(demo, "on_tick")
    first = _first(tick, [], None, None)
    listed = first[-1]
    assert isinstance(listed, tuple)  # the result list as sent
    assert _sends_nothing(tick, [], None, listed)
