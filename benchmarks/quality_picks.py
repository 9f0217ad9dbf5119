"""The quality suite's default picks: per kind of task and method, the learning rate with the
best mean validation score (benchmarks/quality.py prints them under its verdict)."""

from __future__ import annotations

import math
import statistics

from benchmarks.common import format_table
from benchmarks.quality_tasks import METHODS, TaskConfig
from neat.engine.defaults import method_defaults


def paired_val(points: list[dict], method: str) -> dict[float, float]:
    """lr -> mean validation score over the seeds that every rate of `method` has run: each
    seed draws its own validation split, and some splits are harder than others, so rates
    are compared on the same seeds."""
    mine = [p for p in points if p["method"] == method]
    if not mine:
        return {}
    common = set.intersection(*(set(p["seeds"]) for p in mine))
    return {
        p["lr"]: statistics.fmean(v for s, v in zip(p["seeds"], p["val"]) if s in common)
        for p in mine
        if common
    }


def default_picks(cfgs: dict[str, TaskConfig], results: dict[str, dict]) -> list[dict]:
    """Per kind of task (cfg.task) and method: the learning rate with the best mean VALIDATION
    score over that kind's tasks, against the shipped default. Only rates run on every task of
    the kind count, so each rate is scored on the same tasks (and seeds). This is how the defaults in
    neat/engine/defaults.py are chosen: on validation, never on test."""
    kinds: dict[str, list[str]] = {}
    for key in results:
        kinds.setdefault(cfgs[key].task, []).append(key)
    picks = []
    for kind, keys in kinds.items():
        loss = cfgs[keys[0]].metric == "loss"
        for method in METHODS:
            by_task = [paired_val(results[k]["points"], method) for k in keys]
            rates = sorted(set.intersection(*(set(t) for t in by_task))) if by_task else []
            if not rates:
                continue
            score = {lr: statistics.fmean(t[lr] for t in by_task) for lr in rates}
            # ties: the lower rate (the first in sorted order)
            pick = (min if loss else max)(rates, key=lambda lr: score[lr])
            default_lr = method_defaults(kind, method)["training"]["learning_rate"]
            at_default = next((score[lr] for lr in rates if math.isclose(lr, default_lr)), None)
            grid = sorted(set().union(*(cfgs[k].grid[method] for k in keys)))
            picks.append(
                {
                    "kind": kind,
                    "method": method,
                    "tasks": keys,
                    "metric": cfgs[keys[0]].metric,
                    "default_lr": default_lr,
                    "default_val": at_default,
                    "pick_lr": pick,
                    "pick_val": score[pick],
                    "at_grid_edge": len(grid) > 1 and pick in (grid[0], grid[-1]),
                    "val_by_lr": score,
                }
            )
    return picks


def render_picks(picks: list[dict]) -> str:
    """The validation pick per kind of task and method next to the shipped default."""
    rows = []
    for p in picks:

        def v(x, p=p):
            return "-" if x is None else (f"{x:.4f}" if p["metric"] == "loss" else f"{100 * x:.2f}")

        same = math.isclose(p["pick_lr"], p["default_lr"])
        rows.append(
            [
                p["kind"],
                p["method"],
                ", ".join(p["tasks"]),
                f"{p['default_lr']:g}",
                v(p["default_val"]),
                f"{p['pick_lr']:g}" + (" (grid edge)" if p["at_grid_edge"] else ""),
                v(p["pick_val"]),
                "yes" if same else "no",
            ]
        )
    return (
        "Defaults chosen on validation (mean validation score over the kind's tasks, at each "
        "rate run on all of them):\n"
        + format_table(
            [
                "kind",
                "method",
                "tasks",
                "default lr",
                "val at default",
                "val pick",
                "val at pick",
                "default = pick",
            ],
            rows,
        )
    )
