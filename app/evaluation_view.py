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
    n, accuracy = int(n), float(accuracy)
    if not 0.0 <= accuracy <= 1.0:
        return None  # not a share of examples
    return binomial_interval(int(round(accuracy * n)), n)


def parse_columns(text: str | None) -> dict[str, str] | None:
    """ "text=review,label=sentiment" -> {"text": "review", "label": "sentiment"} (the CLI's
    --columns, neat.engine.evaluate); None when blank: the run's own column names."""
    from neat.engine.evaluate import parse_columns as parse

    return parse(text) if (text or "").strip() else None


def image_roots(result: dict) -> list[Path]:
    """The folders an evaluation's image names may point into: its own output folder (copies of
    images stored inside the data, names relative to it) and the data folder it scored."""
    roots = []
    if result.get("predictions_path"):
        roots.append(Path(result["predictions_path"]).parent)
    spec = (result.get("job") or {}).get("spec") or {}
    data = spec.get("data") if spec.get("kind") == "evaluate" else None
    if data:
        path = Path(str(data)).expanduser()
        roots.append(path if path.is_dir() else path.parent)
    return roots


def image_file(value, roots: list[Path]) -> Path | None:
    """The image a predictions.csv row names, if it is a file inside one of `roots` (nothing
    outside the scored data and the evaluation's folder is opened)."""
    if value is None or str(value).strip() == "":
        return None
    candidate = Path(str(value))
    for root in roots:
        base = root.resolve()
        path = (candidate if candidate.is_absolute() else base / candidate).resolve()
        if path.is_relative_to(base) and path.is_file():
            return path
    return None


_FINISHED_RUNS: dict[tuple, dict] = {}


def _finished_run(job: dict) -> dict | None:
    """What a succeeded run's folder says about its scores, read once and kept: its test-split
    metrics (test_metrics.json, or None) and its validation rows (summary.json). A succeeded
    run's folder no longer changes, and the Jobs table asks on every refresh. None while the
    job is not succeeded or its summary cannot be read (asked again next time)."""
    if job.get("status") != "succeeded" or not job.get("output_dir"):
        return None
    key = (job["id"], job["output_dir"])
    if key not in _FINISHED_RUNS:
        import json

        from neat.engine.rundir import RunDir

        folder = RunDir(job["output_dir"])
        try:
            summary = json.loads(folder.summary_file.read_text(encoding="utf-8"))
            rows = (summary.get("rows") or {}).get("validation")
        except (OSError, ValueError, AttributeError):
            return None  # not written yet (or gone)
        _FINISHED_RUNS[key] = {
            "test_metrics": folder.read_test_metrics(),
            "validation_rows": int(rows) if isinstance(rows, int) else None,
        }
    return _FINISHED_RUNS[key]


def test_summary(job: dict) -> dict | None:
    """A finished run's test-split scores (test_metrics.json: scalar metrics and n), or None."""
    if job.get("test_metrics") is not None:
        return job["test_metrics"]
    data = (job.get("spec") or {}).get("dataset") or {}
    if not (data.get("test_source") or data.get("test_fraction")):
        return None
    return (_finished_run(job) or {}).get("test_metrics")


def validation_rows(job: dict) -> int | None:
    """How many validation examples a finished run's metrics were measured on (summary.json's
    rows.validation), or None while it runs or for older runs."""
    return (_finished_run(job) or {}).get("validation_rows")
