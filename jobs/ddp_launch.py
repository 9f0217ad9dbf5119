"""`python -m jobs.ddp_launch TORCHRUN-ARGS...`: torch.distributed.run (torchrun), dying with the worker.

jobs.distributed starts it from the worker that claimed a data-parallel job. It arranges to get
SIGTERM when that worker dies (torchrun then stops its ranks) and names itself as the process
the ranks die with, then hands over to torchrun unchanged.
"""

from __future__ import annotations

import os
import signal
import sys

from jobs.distributed import PARENT_ENV, die_with_parent


def main(argv: list[str] | None = None) -> None:
    die_with_parent(signal.SIGTERM)
    os.environ[PARENT_ENV] = str(os.getpid())  # the ranks' parent: torchrun runs in this process
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(sys.argv[1:] if argv is None else argv)
    except ChildFailedError as exc:  # its summary says which rank failed how; no traceback of ours
        print(exc, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
