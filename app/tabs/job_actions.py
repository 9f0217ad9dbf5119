"""Which of the Jobs tab's actions apply to a job, and what deleting one would remove, in words.

One rule per button, from the job's status (and, for Resume, whether a checkpoint exists):
a button whose action cannot apply is shown disabled instead of failing when pressed.
"""

from __future__ import annotations

BUTTONS = ("cancel", "resume", "retry", "clone", "delete", "playground")
RESUMABLE = ("cancelled", "interrupted", "failed")
ENDED = ("succeeded", "failed", "cancelled", "interrupted")


def allowed_actions(job: dict | None) -> dict[str, bool]:
    """{button: enabled} for `job` (None: no job selected, every button off)."""
    if not job:
        return dict.fromkeys(BUTTONS, False)
    status = job.get("status")
    return {
        "cancel": status == "queued" or (status == "running" and not job.get("cancel_requested")),
        "resume": status in RESUMABLE and job.get("checkpoint_step") is not None,
        "retry": status in ENDED,
        "clone": True,
        "delete": status != "running",
        "playground": status == "succeeded" and bool(job.get("output_dir")),
    }


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def deletion_question(plan: dict) -> str:
    """The confirmation text: the job, and what of its run folder goes with it."""
    head = f"**Delete job #{plan['id']} {plan.get('name', '')}?** Its row goes: status, curves and log."
    if not plan.get("folder") or not plan.get("exists"):
        return head + " It has no run folder on disk."
    parts = []
    if plan.get("adapter"):
        parts.append("the trained adapter")
    count = int(plan.get("checkpoints") or 0)
    parts.append(f"{count} checkpoint{'s' if count != 1 else ''}")
    return (
        f"{head} Unless you keep the files, its run folder goes too: {' and '.join(parts)}, "
        f"{fmt_bytes(int(plan.get('bytes') or 0))} in `{plan['folder']}`."
    )
