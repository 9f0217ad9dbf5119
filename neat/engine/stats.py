"""Uncertainty for the numbers the app shows: how far a metric on n examples can be trusted.

Accuracy on n examples gets the Wilson binomial interval (sound near 0 and 1 and for small n,
unlike the normal approximation); several seeds per method get mean and sd; two methods run
on the same seeds (and data) get a paired t interval on the per-seed differences, which cancels
what the pair shares (the seed's split and initialisation) and keeps only the method's effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats as _scipy


def _z(confidence: float) -> float:
    return float(_scipy.norm.ppf(1 - (1 - confidence) / 2))


def binomial_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion successes / n; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    z = _z(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1 in the denominator; 0 for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_sd needs at least one value")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """Student-t interval on the mean of a_i - b_i (pairs matched by seed).

    Returns {"mean", "lo", "hi", "n", "sd", "confidence"}; with one pair there is no spread to
    measure, so lo and hi are None.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    differences = [float(x) - float(y) for x, y in zip(a, b)]
    n = len(differences)
    mean, sd = mean_sd(differences)
    lo = hi = None
    if n >= 2:
        t = float(_scipy.t.ppf(1 - (1 - confidence) / 2, n - 1))
        half = t * sd / math.sqrt(n)
        lo, hi = mean - half, mean + half
    return {"mean": mean, "lo": lo, "hi": hi, "n": n, "sd": sd, "confidence": confidence}


def _number(value: float) -> str:
    return f"{value:.3g}"


def ab_sentence(
    name_a: str, name_b: str, diff: dict, unit: str = "points", higher_is_better: bool = True
) -> str:
    """One sentence on a paired difference a - b: who is better, or that the runs cannot tell.

    `diff` is paired_difference's result, in the unit named (e.g. accuracy in points = x100).
    """
    percent = f"{round(diff.get('confidence', 0.95) * 100):g}%"
    lo, hi = diff.get("lo"), diff.get("hi")
    if lo is None or hi is None:
        amount = f"{_number(diff['mean'])} {unit}".strip()
        return (
            f"one run per method cannot tell {name_a} and {name_b} apart "
            f"(difference {amount}, no interval from a single pair; run more seeds)"
        )
    if lo > 0 or hi < 0:
        a_higher = lo > 0
        a_wins = a_higher == higher_is_better
        winner = name_a if a_wins else name_b
        # the interval said for the winner's advantage, as a positive number
        low, high = (lo, hi) if a_higher else (-hi, -lo)
        mean = abs(diff["mean"])
        interval = f"{percent} interval {_number(low)} to {_number(high)}"
        amount = f"{_number(mean)} {unit}".strip()
        return f"{winner} better by {amount} ({interval})"
    return f"these runs cannot tell the two apart ({percent} interval {_number(lo)} to {_number(hi)})"
