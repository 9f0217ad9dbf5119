"""`python -m jobs.ddp_rank REQUEST.json`: one process of a data-parallel job, started by torchrun.

Every rank trains (the engine and transformers' Trainer do the data-parallel part); rank 0
alone reports, through a JobListener owned by the worker that claimed the job, and writes the
run's files. Each rank records how it ended for jobs.distributed (rank 0 always, the others when
they fail) and exits non-zero on a failure, which makes torchrun stop the others at once.
"""

from __future__ import annotations

import errno
import json
import signal
import sys
import traceback
from pathlib import Path

from jobs.distributed import die_with_parent, write_outcome

TRACEBACK_LINES = 30


def main(argv: list[str] | None = None) -> int:
    die_with_parent(signal.SIGKILL)  # no rank outlives torchrun
    request = json.loads(Path((sys.argv[1:] if argv is None else argv)[0]).read_text(encoding="utf-8"))
    from jobs.listener import JobListener
    from neat.engine.distributed import rank as this_rank
    from neat.engine.errors import TrainingStopped
    from neat.engine.spec import RunSpec
    from neat.engine.train import run

    rank, folder = this_rank(), request["outcomes"]
    host, pid = request["owner"]
    listener = JobListener(request["job"], host, pid) if rank == 0 else None
    try:
        summary = run(
            RunSpec.from_dict(request["spec"]),
            request["output_dir"],
            listeners=[listener] if listener else [],
            resume=request["resume"],
        )
    except TrainingStopped:  # every rank stops at the same step (neat.engine.distributed)
        if listener:
            _flush(listener)
            write_outcome(folder, rank, "stopped", reason=listener.stop_reason)
        return 0
    except BaseException as exc:  # noqa: B036 - every failure is reported, then ends the rank
        traceback.print_exception(exc)  # into the worker's log, as a single-process job's
        if listener:
            _flush(listener)
        write_outcome(folder, rank, "failed", **_describe(exc, Path(request["output_dir"])))
        return 1
    if listener:
        _flush(listener)
        write_outcome(folder, rank, "succeeded", summary=summary)
    return 0


def _describe(exc: BaseException, output_dir: Path) -> dict:
    """What jobs.distributed needs to fail the job as a single-process run would."""
    from jobs.runner import disk_full
    from neat.engine.errors import OutOfMemoryError, UserError

    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()[-TRACEBACK_LINES:]
    described = {"type": type(exc).__name__, "message": str(exc), "traceback": lines}
    if disk_full(exc, output_dir) is not None:
        return {**described, "kind": "disk_full", "filename": _full_file(exc)}
    if isinstance(exc, (MemoryError, OutOfMemoryError)):
        return {**described, "kind": "oom"}
    if isinstance(exc, UserError):
        return {**described, "kind": "user"}
    return {**described, "kind": "error"}


def _full_file(exc: BaseException) -> str | None:
    """The file whose write found the disk full, if the exception chain names it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and exc.filename:
            return str(exc.filename)
        exc = exc.__cause__ or exc.__context__
    return None


def _flush(listener) -> None:
    try:
        listener.flush()
    except Exception:  # noqa: BLE001 - jobs.distributed backfills the points from metrics.jsonl
        pass


if __name__ == "__main__":
    sys.exit(main())
