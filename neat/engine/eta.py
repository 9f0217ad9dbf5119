"""Seconds left in a run: the training steps still to go, the evaluations and checkpoint saves
due on the way, and the final evaluation and save after the last step.

Evaluation and saving are timed apart from the training steps, so a slow evaluation does not
inflate the step rate and the final one is counted once, at its measured cost. Before the
first evaluation its cost is estimated from the evaluation set's size: a forward pass over a
row costs about a third of a training step's forward and backward pass over it.
"""

from __future__ import annotations

FORWARD_SHARE = 1 / 3  # forward only vs. forward + backward, per row


class EtaClock:
    def __init__(self, eval_every: int | None = None, eval_rows: int = 0, rows_per_step: int = 1):
        self.eval_every = eval_every if eval_every and eval_every > 0 else None
        self.eval_rows = int(eval_rows or 0)
        self.rows_per_step = max(1, int(rows_per_step or 1))
        self.started: float | None = None
        self.first_step = 0
        self.eval_seconds: float | None = None  # the last evaluation's duration
        self.save_seconds: float = 0.0  # the last checkpoint save's duration
        self.side_seconds = 0.0  # evaluation and saving so far, not training steps

    def start(self, step: int, now: float) -> None:
        self.started, self.first_step = now, int(step)

    def evaluated(self, seconds: float) -> None:
        self.eval_seconds = max(0.0, float(seconds))
        self.side_seconds += self.eval_seconds

    def saved(self, seconds: float) -> None:
        self.save_seconds = max(0.0, float(seconds))
        self.side_seconds += self.save_seconds

    def step_seconds(self, step: int, now: float) -> float | None:
        """Seconds per optimiser step, evaluation and saving left out; None before the first step."""
        done = int(step) - self.first_step
        if self.started is None or done <= 0:
            return None
        return max(0.0, now - self.started - self.side_seconds) / done

    def final_seconds(self, per_step: float | None) -> float | None:
        """The final evaluation and save: as measured, else estimated from the evaluation set."""
        if self.eval_seconds is not None:
            return self.eval_seconds + self.save_seconds
        if per_step is None:
            return None
        return self.eval_rows * per_step / self.rows_per_step * FORWARD_SHARE + self.save_seconds

    def remaining(self, step: int, max_steps: int, now: float) -> float | None:
        """Seconds until the run ends (final evaluation and save included); None if unknown yet."""
        per_step = self.step_seconds(step, now)
        final = self.final_seconds(per_step)
        if per_step is None or final is None:
            return None
        step, max_steps = int(step), int(max_steps)
        steps_left = max(0, max_steps - step)
        evals_left = 0
        if self.eval_every:
            evals_left = max(0, max_steps // self.eval_every - step // self.eval_every)
        # the evaluations still due during training (one may fall on the last step), then the final one
        return steps_left * per_step + evals_left * final + final
