"""`python -m neat.evaluate RUN_DIR [--data FILE] [--columns text=...,label=...] [--output DIR]`

Scores a finished run (neat/engine/evaluate.py) and writes DIR/metrics.json and
DIR/predictions.csv; without --data, on the test split saved in the run folder.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m neat.evaluate",
        description="Score a finished run: metrics.json and predictions.csv (a file without labels "
        "gives predictions only).",
    )
    parser.add_argument("run_dir", help="the run folder written by training")
    parser.add_argument(
        "--data", help="file, image folder or hub dataset to score (default: the run's test split)"
    )
    parser.add_argument(
        "--columns", default="", help="this data's column names, e.g. text=review,label=stars"
    )
    parser.add_argument(
        "--output", help="folder for metrics.json and predictions.csv (default: the run folder)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-rows", type=int, help="score only the first N rows")
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="chat: answer length cap (default 64)"
    )
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: a GPU when there is one)")
    args = parser.parse_args(argv)

    from tqdm.auto import tqdm

    from neat.engine.errors import UserError
    from neat.engine.evaluate import DEFAULT_MAX_NEW_TOKENS, evaluate_run, parse_columns

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="row", desc="scoring")
        bar.update(done - bar.n)

    try:
        metrics = evaluate_run(
            args.run_dir,
            data=args.data,
            columns=parse_columns(args.columns),
            output_dir=args.output,
            batch_size=args.batch_size,
            device=args.device,
            progress=progress,
            max_rows=args.max_rows,
            max_new_tokens=args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
        )
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    shown = {k: v for k, v in metrics.items() if k not in ("per_class", "confusion_matrix")}
    print(json.dumps(shown, indent=2))
    print(f"metrics.json and predictions.csv in {args.output or args.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
