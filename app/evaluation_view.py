"""What the Evaluate tab needs from the engine beyond app/backend.py: the uncertainty of an
accuracy, and the image files behind a predictions.csv's `image` column.

Kept apart from app/backend.py (the job-queue door) so each has one job; like backend.py it is
the tabs' way to the engine (app/tabs/* import neither neat/ nor jobs/).
"""

from __future__ import annotations

from pathlib import Path

# Below this many examples the UI shows an accuracy's 95% interval next to it (issue: "every
# metric with its n; below 500 examples its uncertainty").
SMALL_N = 500


def accuracy_interval(metrics: dict) -> tuple[float, float] | None:
    """The Wilson 95% interval of metrics["accuracy"] over metrics["n"] examples, when n < 500."""
    from neat.engine.stats import binomial_interval

    accuracy, n = metrics.get("accuracy"), metrics.get("n")
    if accuracy is None or not n or int(n) >= SMALL_N:
        return None
    n = int(n)
    return binomial_interval(int(round(float(accuracy) * n)), n)


def image_root(result: dict) -> Path | None:
    """The folder an evaluation's image names are relative to: the data it scored (a folder), or
    the run's saved test split."""
    from neat.engine.rundir import RunDir

    job = result.get("job") or {}
    spec = job.get("spec") or {}
    data = spec.get("data") if spec.get("kind") == "evaluate" else None
    if data:
        path = Path(str(data))
        return path if path.is_dir() else path.parent
    run_job = result.get("run_job") or job
    out = run_job.get("output_dir")
    if not out:
        return None
    split = Path(RunDir(out).test_split)
    return split if split.is_dir() else split.parent


def image_file(value, root: Path | None) -> Path | None:
    """The image a predictions.csv row names, if it is a file inside `root` (nothing outside
    the scored data is opened)."""
    if root is None or value is None or str(value).strip() == "":
        return None
    base = root.resolve()
    candidate = Path(str(value))
    path = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path
