"""Command line for the job queue (a worker runs them: `python -m jobs.worker`).

python -m jobs submit RUN.yaml [--priority P] [--no-check]
python -m jobs sweep RUN.yaml --set training.learning_rate=1e-3,5e-3 --set method.name=neat,lora
                     [--name N] [--dry-run] [--no-check]
python -m jobs evaluate JOB_ID [--data FILE] [--columns text=..,label=..] [--batch-size N]
python -m jobs list [--status S]
python -m jobs show ID
python -m jobs logs ID [--follow] [--tail N]
python -m jobs cancel ID | resume ID | retry ID | delete ID [--keep-files]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

from jobs import api
from jobs.models import END_STATES
from neat.engine.errors import UserError
from neat.engine.spec import RunSpec


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _best(job: dict) -> str:
    if job["best_metric_name"] is None or job["best_metric_value"] is None:
        return "-"
    return f"{job['best_metric_name']}={job['best_metric_value']:.4g}"


def _short(text: str | None, width: int = 60) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_submit(args) -> int:
    spec = RunSpec.load(args.spec)
    if not args.no_check:  # the pre-queue check the UI's Start and `neat.train --check` run
        from neat.engine.prequeue import check_run

        result = check_run(spec)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if result.errors:
            for error in result.errors:
                print(f"error: {error}", file=sys.stderr)
            print("nothing was queued (--no-check skips the check)", file=sys.stderr)
            return 1
    job_id = api.submit(spec, priority=args.priority)
    print(f"submitted job {job_id} ({spec.name}); run `python -m jobs.worker` to train it")
    return 0


def _check(spec: RunSpec) -> bool:
    """The pre-queue check the UI's Start and `neat.train --check` run; False (reported) on errors."""
    from neat.engine.prequeue import check_run

    result = check_run(spec)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    return not result.errors


def parse_sets(sets: list[str]) -> dict[str, list]:
    """`--set FIELD=V1,V2` options as sweep axes, each list read as the field's type."""
    from neat.engine.errors import FieldError, SpecError
    from neat.engine.sweep import field_kind, parse_value_list

    axes: dict[str, list] = {}
    for item in sets:
        path, sep, values = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise SpecError([FieldError("--set", f"{item!r} is not FIELD=VALUE[,VALUE...]")])
        if path in axes:
            raise SpecError([FieldError(path, "is set twice; give all its values in one --set")])
        axes[path] = parse_value_list(values, field_kind(path), field=path)
    return axes


def cmd_sweep(args) -> int:
    from neat.engine.sweep import expand_grid

    spec = RunSpec.load(args.spec)
    axes = parse_sets(args.set or [])
    runs = expand_grid(spec, axes)
    print(f"{len(runs)} run(s) in the grid:")
    rows = [[i, run.name, *(_value_at(run, path) for path in axes)] for i, run in enumerate(runs, 1)]
    print(_table(rows, ["#", "NAME", *axes]))
    if args.dry_run:
        print("dry run: nothing was queued")
        return 0
    if not args.no_check:
        checked = {}
        for run in runs:  # the model and data are the same; each method's targets are checked once
            checked.setdefault(run.method.name, run)
        if not all([_check(run) for run in checked.values()]):
            print("nothing was queued (--no-check skips the check)", file=sys.stderr)
            return 1
    name = args.name or f"{spec.name} sweep"
    ids = api.submit_sweep(runs, name, priority=args.priority)
    sweep_id = api.get_job(ids[0])["sweep_id"]
    print(f"queued sweep {sweep_id} ({name}): jobs {', '.join(map(str, ids))}")
    return 0


def _value_at(spec: RunSpec, path: str):
    value = spec
    for part in path.split("."):
        value = getattr(value, part)
    return f"{value:g}" if isinstance(value, float) else value


def parse_columns(text: str | None) -> dict[str, str] | None:
    """`text=review,label=stars` as {role: column}."""
    from neat.engine.errors import FieldError, SpecError

    if not text:
        return None
    columns = {}
    for item in text.split(","):
        role, sep, column = item.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise SpecError([FieldError("--columns", f"{item.strip()!r} is not ROLE=COLUMN")])
        columns[role.strip()] = column.strip()
    return columns


def cmd_evaluate(args) -> int:
    job_id = api.submit_evaluation(
        args.id, data=args.data, columns=parse_columns(args.columns), batch_size=args.batch_size
    )
    print(f"queued evaluation job {job_id} of job {args.id}; run `python -m jobs.worker` to score it")
    return 0


def cmd_list(args) -> int:
    jobs = api.list_jobs(status=args.status, limit=args.limit)
    if not jobs:
        print("no jobs")
        return 0
    rows = [
        [
            j["id"],
            j.get("kind") or "train",
            _short(j["name"], 30),
            j["status"] + (" (cancelling)" if j["cancel_requested"] and j["status"] == "running" else ""),
            f"{100 * (j['progress'] or 0):.0f}%",
            _duration(j["eta_seconds"]) if j["status"] == "running" else "",
            _best(j),
            j["priority"],
            _when(j["created_at"]),
            _short(j["error"], 50),
        ]
        for j in jobs
    ]
    print(
        _table(rows, ["ID", "KIND", "NAME", "STATUS", "PROGRESS", "ETA", "BEST", "PRIO", "CREATED", "ERROR"])
    )
    return 0


def _devices(job: dict) -> str:
    """How many devices the job asks for, and where it ran (a GPU group, or the CPU)."""
    from jobs.devices import devices_wanted

    wanted = devices_wanted(job)
    return f"{wanted} (training.num_devices)" + (f", on {job['device']}" if job.get("device") else "")


def cmd_show(args) -> int:
    job = api.get_job(args.id)
    fields = [
        ("id", job["id"]),
        ("name", job["name"]),
        ("kind", job.get("kind") or "train"),
        ("status", job["status"]),
        ("progress", f"{100 * (job['progress'] or 0):.1f}%"),
        ("eta", _duration(job["eta_seconds"])),
        ("best metric", _best(job)),
        ("priority", job["priority"]),
        ("sweep", job["sweep_id"] or "-"),
        ("created", _when(job["created_at"])),
        ("started", _when(job["started_at"])),
        ("finished", _when(job["finished_at"])),
        ("attempts", job["attempts"]),
        ("worker", f"{job['worker_host']}:{job['worker_pid']}" if job["worker_host"] else "-"),
        ("devices", _devices(job)),
        ("heartbeat", _when(job["heartbeat_at"])),
        ("checkpoint", job["checkpoint_step"] if job["checkpoint_step"] is not None else "-"),
        ("resumed from", job["resumed_from"] if job["resumed_from"] is not None else "-"),
        ("retry of", job["retry_of"] or "-"),
        ("output dir", job["output_dir"]),
        ("error", job["error"] or "-"),
    ]
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        print(f"{key.ljust(width)}  {value}")
    metrics = api.get_metrics(args.id)
    if metrics:
        last: dict[tuple[str, str], dict] = {}
        for point in metrics:
            last[(point["split"], point["name"])] = point
        print("\nlatest metrics:")
        rows = [
            [s, n, p["step"], "-" if p["value"] is None else f"{p['value']:.5g}"]
            for (s, n), p in last.items()
        ]
        print(_table(sorted(rows), ["SPLIT", "NAME", "STEP", "VALUE"]))
    return 0


def _print_events(events: list[dict]) -> None:
    for event in events:
        level = "" if event["level"] == "info" else f"[{event['level']}] "
        print(f"{_when(event['time'])}  {level}{event['text']}", flush=True)


def cmd_logs(args) -> int:
    events = api.get_logs(args.id, tail=args.tail)
    _print_events(events)
    if not args.follow:
        return 0
    last_id = events[-1]["id"] if events else 0
    while True:
        events = api.get_logs(args.id, tail=None, after_id=last_id)
        _print_events(events)
        if events:
            last_id = events[-1]["id"]
        elif api.get_job(args.id)["status"] in END_STATES:
            return 0
        time.sleep(args.interval)


def cmd_cancel(args) -> int:
    job = api.cancel(args.id)
    print(f"job {args.id}: " + ("cancel requested" if job["status"] == "running" else job["status"]))
    return 0


def cmd_resume(args) -> int:
    job = api.resume(args.id)
    print(f"job {args.id} queued again; it resumes from the checkpoint at step {job['checkpoint_step']}")
    return 0


def cmd_retry(args) -> int:
    print(f"job {args.id} retried as job {api.retry(args.id)}")
    return 0


def cmd_delete(args) -> int:
    keep = getattr(args, "keep_files", False)
    api.delete(args.id, keep_files=keep)
    print(f"job {args.id} deleted" + ("; its run folder was kept" if keep else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description="Queue and inspect NEAT Studio jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("submit", help="queue a run spec (YAML)")
    p.add_argument("spec")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    p.add_argument(
        "--no-check", action="store_true", help="queue without the pre-queue check of the model and data"
    )
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("sweep", help="queue a grid of runs from a spec and value lists")
    p.add_argument("spec")
    p.add_argument(
        "--set", action="append", metavar="FIELD=V1,V2", help="a spec field and its values (repeatable)"
    )
    p.add_argument("--name", help="the sweep's name (default: the spec's name + ' sweep')")
    p.add_argument("--priority", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="print the grid, queue nothing")
    p.add_argument("--no-check", action="store_true", help="queue without the pre-queue check")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("evaluate", help="score a succeeded training job on data (default: its test split)")
    p.add_argument("id", type=int)
    p.add_argument("--data", help="a data file or folder, or a hub id (default: the run's test split)")
    p.add_argument("--columns", help="ROLE=COLUMN,... e.g. text=review,label=stars (default: the run's)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("list", help="list jobs, newest first")
    p.add_argument(
        "--status", choices=["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
    )
    p.add_argument("--limit", type=int)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="one job in detail")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("logs", help="a job's log")
    p.add_argument("id", type=int)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    p.add_argument("--tail", type=int, default=200)
    p.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_logs)
    for name, func, text in [
        ("cancel", cmd_cancel, "cancel a queued or running job"),
        ("resume", cmd_resume, "continue an interrupted, cancelled or failed job from its checkpoint"),
        ("retry", cmd_retry, "start a finished job over as a new job"),
        ("delete", cmd_delete, "delete a job that is not running, with its outputs"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("id", type=int)
        if name == "delete":
            p.add_argument(
                "--keep-files", action="store_true", help="delete only the job's row, keep its run folder"
            )
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
