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

    shown = _first(details_tick, str(job_id), "step", None, None)
    detail_stamp, button_stamp = shown[6], shown[-1]
    assert isinstance(detail_stamp, tuple) and isinstance(button_stamp, tuple)
    assert _sends_nothing(details_tick, str(job_id), "step", detail_stamp, button_stamp)

    # the job moves on: the tick redraws the buttons and writes their new stamp
    store.set_status(job_id, "running")
    moved = _first(details_tick, str(job_id), "step", detail_stamp, button_stamp)
    assert moved[-1] != button_stamp and moved[-1] is not SKIP
    assert moved[6] != detail_stamp and "running" in moved[0]


def test_an_idle_evaluate_tick_writes_nothing(neat_home):
    demo = build_app()
    tick = _event(demo, "on_tick")
    first = _first(tick, [], None, None)
    listed = first[-1]
    assert isinstance(listed, tuple)  # the result list as sent
    assert _sends_nothing(tick, [], None, listed)
