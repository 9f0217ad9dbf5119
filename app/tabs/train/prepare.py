"""The one-time preparation of an embedded model (SmolLM2's GGUF conversion): said before it
starts and counted while it runs, instead of a silent wait on the first selection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from app import backend


def preparing(ref: str, poll_seconds: float = 1.0) -> Iterator[str]:
    """Lines to show while `ref` is prepared for first use, one now and one per `poll_seconds`;
    nothing when it is ready. A failure is left to the caller's model summary, which reports
    the model's own error."""
    needed = backend.first_use_preparation(ref)
    if needed is None:
        return
    name, what, seconds = needed
    done = threading.Event()

    def work():
        try:
            backend.prepare_model(ref)
        except Exception:  # noqa: BLE001 - the model summary that follows says what went wrong
            pass
        finally:
            done.set()

    threading.Thread(target=work, name=f"prepare-{ref}", daemon=True).start()
    started = time.monotonic()
    head = f"⏳ Preparing {name} for first use (one time, about {seconds} s): {what}…"
    yield head
    while not done.wait(poll_seconds):
        yield f"{head} {time.monotonic() - started:.0f} s"
