"""How the app's native line charts are fed: never a blank value, and new lines in two steps.

Gradio 6's LinePlot draws into an element that exists only while its value is not None, and
the size watcher it attaches outlives that element: setting a drawn chart back to None makes
the watcher read a removed element ("Cannot read properties of null (reading 'offsetWidth')")
on every later layout change. So a chart with nothing to draw gets an empty table and a title
ending "no points yet".

A plain value update only swaps the data in the drawn chart, whose colour legend keeps the
lines it was first drawn with: a line added later (eval loss after the first evaluation) would
not show. Changing a drawing property (`color_map`, one colour per line; a title) redraws the
chart, but in the same update as the new value it redraws with the old data. So the data goes
first, alone (`chart_update`), and the drawing properties follow in a second update
(`legend_update`) that redraws the chart with the data now in place.

A line of a single point has no length: CSS (`SINGLE_POINT_CSS`) draws it as a round marker.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

NO_POINTS = "no points yet"
# Vega's category10, so the lines keep the colours Gradio would have picked
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
FIXED = {"train loss": PALETTE[0], "eval loss": PALETTE[1]}

# A one-point line is drawn by Vega as "M x,y Z" (no L segment): give it a round cap that shows.
SINGLE_POINT_CSS = """
.line-chart g.mark-line path:not([d*="L"]) { stroke-linecap: round; stroke-width: 9px; }
"""


def color_map(series) -> dict[str, str]:
    """A colour per line name, stable for the names that every job has (train and eval loss)."""
    names = sorted({str(s) for s in series})
    others = [n for n in names if n not in FIXED]
    colours = {n: FIXED[n] for n in names if n in FIXED}
    free = [c for c in PALETTE if c not in colours.values()] or PALETTE
    colours.update({n: free[i % len(free)] for i, n in enumerate(others)})
    return colours


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """No rows, but the column types a filled chart has (numbers for x and y, text for colour)."""
    return pd.DataFrame(
        {c: pd.Series(dtype=float) for c in columns[:2]} | {c: pd.Series(dtype=str) for c in columns[2:]}
    )


def empty_title(title: str) -> str:
    return f"{title} — {NO_POINTS}"


def chart_update(frame: pd.DataFrame | None, x: str, y: str, color: str) -> dict:
    """The first step: only the chart's data (an empty table when there is none)."""
    if frame is None or frame.empty:
        return gr.update(value=empty_frame([x, y, color]))
    return gr.update(value=frame)


def lines_of(frame: pd.DataFrame | None, color: str) -> tuple[str, ...]:
    """The names of the lines a frame draws, sorted."""
    if frame is None or frame.empty:
        return ()
    return tuple(sorted({str(s) for s in frame[color]}))


def legend_update(lines: tuple[str, ...], title: str, **props) -> dict:
    """The second step: a colour per line and the title ("no points yet" when there are no
    lines), which make the chart redraw with every line of the data sent just before."""
    return gr.update(
        color_map=color_map(lines) if lines else None,
        title=title if lines else empty_title(title),
        **props,
    )


def integer_axis(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame, list[str]]:
    """The frame with `column` as text, and its values in numeric order: the axis then shows one
    tick per whole number (a layer, a k) and nothing in between."""
    if frame is None or frame.empty:
        return frame, []
    out = frame.copy()
    values = sorted({int(v) for v in out[column]})
    out[column] = out[column].astype(int).astype(str)
    return out, [str(v) for v in values]
