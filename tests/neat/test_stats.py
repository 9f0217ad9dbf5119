"""Uncertainty helpers against hand-computed values."""

from __future__ import annotations

import pytest

from neat.engine.stats import ab_sentence, binomial_interval, mean_sd, paired_difference


def test_wilson_interval_known_values():
    # 5 of 10 at 95% (z = 1.95996): centre = (0.5 + z²/20) / (1 + z²/10) = 0.5,
    # half = z * sqrt(0.25/10 + z²/400) / (1 + z²/10) = 1.95996 * 0.186018 / 1.384146 = 0.263402
    lo, hi = binomial_interval(5, 10)
    assert lo == pytest.approx(0.236598, abs=1e-5) and hi == pytest.approx(0.763402, abs=1e-5)
    # 0 of 10: the interval starts at 0 and reaches z²/(n + z²) = 3.84146 / 13.84146 = 0.277532
    assert binomial_interval(0, 10) == pytest.approx((0.0, 0.277532), abs=1e-5)
    # 81 of 263, a textbook example: (0.2553, 0.3662)
    assert binomial_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert binomial_interval(0, 0) == (0.0, 1.0)


def test_mean_sd_uses_n_minus_one():
    assert mean_sd([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == pytest.approx((5.0, 2.13809), abs=1e-5)
    assert mean_sd([3.0]) == (3.0, 0.0)


def test_paired_interval_by_hand():
    # a - b = [0.02, 0.01, 0.05]: mean 0.0266667; deviations -0.0066667, -0.0166667, 0.0233333;
    # squares sum 0.00086667, / (n-1 = 2) = 0.00043333, sd = 0.0208167, se = sd / sqrt(3) = 0.0120185;
    # t(0.975, df 2) = 4.302653, half width = 0.0517111 -> (-0.0250444, 0.0783778)
    diff = paired_difference([0.80, 0.82, 0.85], [0.78, 0.81, 0.80])
    assert diff["n"] == 3
    assert diff["mean"] == pytest.approx(0.0266667, abs=1e-6)
    assert diff["sd"] == pytest.approx(0.0208167, abs=1e-6)
    assert (diff["lo"], diff["hi"]) == pytest.approx((-0.0250444, 0.0783778), abs=1e-6)
    assert ab_sentence("NEAT", "LoRA", diff).startswith("these runs cannot tell the two apart (95% interval")


def test_ab_sentence_names_the_winner_with_its_interval():
    # differences [2, 3, 4, 3]: mean 3, sd = sqrt(2/3) = 0.816497, se = 0.408248,
    # t(0.975, df 3) = 3.182446, half = 1.299226 -> (1.70077, 4.29923)
    diff = paired_difference([12, 13, 14, 13], [10, 10, 10, 10])
    assert (diff["lo"], diff["hi"]) == pytest.approx((1.70077, 4.29923), abs=1e-5)
    assert ab_sentence("NEAT", "LoRA", diff) == "NEAT better by 3 points (95% interval 1.7 to 4.3)"
    # for a loss, the higher one loses: the same numbers favour LoRA
    assert ab_sentence("NEAT", "LoRA", diff, unit="", higher_is_better=False) == (
        "LoRA better by 3 (95% interval 1.7 to 4.3)"
    )
    flipped = paired_difference([10, 10, 10, 10], [12, 13, 14, 13])
    assert ab_sentence("NEAT", "LoRA", flipped) == "LoRA better by 3 points (95% interval 1.7 to 4.3)"


def test_one_pair_has_no_interval():
    diff = paired_difference([0.9], [0.8])
    assert diff["lo"] is None and diff["hi"] is None and diff["sd"] == 0.0
    assert "no interval from a single pair" in ab_sentence("NEAT", "LoRA", diff)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1, 2], [1])
