"""Charts that Gradio's native plots cannot draw (a heatmap, grouped bars, a log-scale x axis),
as Vega-Lite specs for gr.Plot.

gr.Plot renders a Vega-Lite spec with the vega-embed that Gradio bundles (the path an Altair
chart takes), so these need no plotting package: each function returns the spec wrapped in
Gradio's PlotData. The specs hold their data inline and have fixed sizes, so a chart drawn in a
column that is not shown yet still has its size when it appears.
"""

from __future__ import annotations

import json
from typing import Any

from gradio.components.plot import PlotData

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.17.0.json"
_CELL = 56  # heatmap cell size in pixels
_MAX_SIDE = 480


# drawn as SVG (vega-embed reads usermeta.embedOptions): its text is in the page, so it can be
# read, searched and tested like the native plots' (canvas is vega-embed's default)
_EMBED = {"embedOptions": {"renderer": "svg", "actions": False}}


def vega(spec: dict[str, Any]) -> PlotData:
    """A Vega-Lite spec as a value for gr.Plot."""
    full = {"$schema": SCHEMA, "background": "transparent", "usermeta": _EMBED, **spec}
    return PlotData(type="altair", plot=json.dumps(full))


def spec_of(value: PlotData) -> dict[str, Any]:
    """The spec inside a gr.Plot value (for tests and for checking what a chart shows)."""
    return json.loads(value.plot)


def confusion_heatmap(
    labels: list[str], matrix: list[list[int]], title: str = "Confusion matrix"
) -> PlotData:
    """Rows are the true labels, columns the predictions (metrics.json's order); each cell shows
    its count, coloured by its share of the row (so a rare class reads as well as a common one)."""
    values = []
    for i, true in enumerate(labels):
        row = [int(v) for v in matrix[i]]
        total = sum(row) or 1
        for j, predicted in enumerate(labels):
            values.append(
                {"true": str(true), "predicted": str(predicted), "count": row[j], "share": row[j] / total}
            )
    side = min(_MAX_SIDE, max(220, _CELL * len(labels)))
    names = [str(label) for label in labels]
    return vega(
        {
            "title": title,
            "width": side,
            "height": side,
            "data": {"values": values},
            "encoding": {
                "x": {
                    "field": "predicted",
                    "type": "nominal",
                    "sort": names,
                    "title": "predicted",
                    "axis": {"labelAngle": 0 if len(names) <= 6 else -45},
                },
                "y": {"field": "true", "type": "nominal", "sort": names, "title": "true label"},
            },
            "layer": [
                {
                    "mark": "rect",
                    "encoding": {
                        "color": {
                            "field": "share",
                            "type": "quantitative",
                            "scale": {"scheme": "blues", "domain": [0, 1]},
                            "title": "share of row",
                        },
                        "tooltip": [
                            {"field": "true"},
                            {"field": "predicted"},
                            {"field": "count"},
                            {"field": "share", "format": ".1%"},
                        ],
                    },
                },
                {
                    "mark": {"type": "text", "fontSize": 13},
                    "encoding": {
                        "text": {"field": "count", "type": "quantitative"},
                        "color": {
                            "condition": {"test": "datum.share > 0.5", "value": "white"},
                            "value": "black",
                        },
                    },
                },
            ],
        }
    )


def class_bars(per_class: dict[str, dict[str, float]], title: str | None = None) -> PlotData:
    """Precision, recall and F1 side by side for each class, support in the tooltip. No title
    by default: the panel's label names the chart, and a narrow chart's centred title would
    sit under that label."""
    values = [
        {
            "class": str(name),
            "score": score,
            "value": float(scores.get(score, 0.0)),
            "support": scores.get("support"),
        }
        for name, scores in per_class.items()
        for score in ("precision", "recall", "f1")
    ]
    return vega(
        {
            **({"title": title} if title else {}),
            "width": min(_MAX_SIDE, 90 * max(2, len(per_class))),
            "height": 220,
            "data": {"values": values},
            "mark": "bar",
            "encoding": {
                "x": {"field": "class", "type": "nominal", "title": None, "axis": {"labelAngle": 0}},
                "xOffset": {"field": "score", "sort": ["precision", "recall", "f1"]},
                "y": {"field": "value", "type": "quantitative", "scale": {"domain": [0, 1]}, "title": None},
                "color": {"field": "score", "sort": ["precision", "recall", "f1"], "title": None},
                "tooltip": [
                    {"field": "class"},
                    {"field": "score"},
                    {"field": "value", "format": ".3f"},
                    {"field": "support"},
                ],
            },
        }
    )


def metric_by_learning_rate(rows: list[dict], metric: str, title: str | None = None) -> PlotData:
    """One line per method through the mean `metric` at each learning rate (log scale), with
    every run as a point; `rows` hold `lr`, `method` and `value`."""
    values = [
        {"lr": float(r["lr"]), "method": str(r["method"]), "value": float(r["value"])}
        for r in rows
        if r.get("lr") is not None and r.get("value") is not None
    ]
    x = {"field": "lr", "type": "quantitative", "scale": {"type": "log"}, "title": "learning rate"}
    color = {"field": "method", "type": "nominal", "title": "method"}
    return vega(
        {
            "title": title or f"{metric} by learning rate",
            "width": 520,
            "height": 260,
            "data": {"values": values},
            "layer": [
                {
                    "mark": {"type": "line", "point": False},
                    "encoding": {
                        "x": x,
                        "y": {"field": "value", "aggregate": "mean", "type": "quantitative", "title": metric},
                        "color": color,
                    },
                },
                {
                    "mark": {"type": "point", "filled": True},
                    "encoding": {
                        "x": x,
                        "y": {"field": "value", "type": "quantitative", "scale": {"zero": False}},
                        "color": color,
                        "tooltip": [
                            {"field": "method"},
                            {"field": "lr"},
                            {"field": "value", "format": ".4f"},
                        ],
                    },
                },
            ],
        }
    )


def lines(
    frame, x_title: str = "step", y_title: str = "value", color: str = "job", integer_x: bool = True
) -> PlotData | None:
    """Curves of a long table (x, value, `color`): one line per `color`, a point where a series
    has a single value. Steps get whole-number ticks (never 0.5, never one per step) and legend
    entries are never cut short. None when there is nothing to draw."""
    if frame is None or len(frame) == 0:
        return None
    values = [
        {"x": float(x), "value": float(v), color: str(c)}
        for x, v, c in zip(frame["x"], frame["value"], frame[color], strict=True)
    ]
    # about ten ticks however long the run (not one per step), never between two steps
    axis = {"tickCount": 10, "tickMinStep": 1, "format": "d"} if integer_x else {}
    x = {"field": "x", "type": "quantitative", "title": x_title, "axis": axis, "scale": {"zero": False}}
    y = {"field": "value", "type": "quantitative", "title": y_title, "scale": {"zero": False}}
    legend = {"field": color, "type": "nominal", "title": color, "legend": {"labelLimit": 0}}
    return vega(
        {
            "width": 760,
            "height": 280,
            "data": {"values": values},
            "encoding": {"x": x, "y": y, "color": legend},
            "layer": [
                {"mark": {"type": "line", "point": False}},
                {
                    "mark": {"type": "point", "filled": True, "size": 30},
                    "encoding": {"tooltip": [{"field": color}, {"field": "x"}, {"field": "value"}]},
                },
            ],
        }
    )
