"""`python -m app`: start NEAT Studio's UI and, unless --no-worker, a training worker.

The worker is `python -m jobs.worker` in a child process (the same command you could run on
another machine); it is stopped when the app exits. Login: NEAT_AUTH=user:password.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import signal
import subprocess
import sys
import threading

from app import config

log = logging.getLogger("app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="NEAT Studio: fine-tune pretrained models with NEAT in the browser.",
        epilog="Environment: NEAT_HOME (data folder, default ~/.neat-studio), NEAT_AUTH=user:password "
        "(turns on the login page; several as u1:p1,u2:p2; each account sees its own jobs), "
        "NEAT_ADMINS=u1,u2 (accounts that see every job), NEAT_DATA_DIRS=/data:/srv/sets (server "
        "folders the app may read besides NEAT_HOME/uploads), NEAT_MAX_UPLOAD_MB (default "
        f"{config.DEFAULT_MAX_UPLOAD_MB}), NEAT_DB_URL and NEAT_QUEUE_URL (see jobs/config.py).",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("NEAT_HOST", "127.0.0.1"),
        help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 for every interface "
        "- then set NEAT_AUTH)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("NEAT_PORT", "7860")),
        help="port to listen on (default 7860)",
    )
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="do not start a training worker (run `python -m jobs.worker` elsewhere)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="jobs the started worker trains at the same time (default 1)"
    )
    parser.add_argument(
        "--allow-remote-code",
        action="store_true",
        help="let jobs load models that run their own Python code (trust_remote_code); off by default, "
        "never for uploaded folders, and never inside the app process (also NEAT_ALLOW_REMOTE_CODE=1)",
    )
    parser.add_argument(
        "--gpus",
        default=None,
        help="`all` or GPU numbers (0,1,...): the started worker runs one training worker per GPU",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=int,
        default=None,
        help="with --gpus: one training worker per N GPUs, for jobs with training.num_devices up to N",
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="also publish a temporary public gradio.live link (off by default; needs internet)",
    )
    return parser


class WorkerProcess:
    """The `python -m jobs.worker` child: started with the app, stopped with it."""

    def __init__(self, workers: int = 1, gpus: str | None = None, gpus_per_worker: int | None = None):
        self.workers = workers
        self.gpus = gpus
        self.gpus_per_worker = gpus_per_worker
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "jobs.worker", "--workers", str(self.workers)]
        if self.gpus is not None:
            cmd += ["--gpus", self.gpus]
        if self.gpus_per_worker is not None:
            cmd += ["--gpus-per-worker", str(self.gpus_per_worker)]
        self.proc = subprocess.Popen(cmd, env=os.environ.copy(), preexec_fn=_terminate_with_parent)
        log.info("started worker (pid %s): %s", self.proc.pid, " ".join(cmd))

    def problem(self) -> str | None:
        """Why queued jobs will not run here, in words (None: the worker is alive)."""
        if self.proc is None:
            return "this app started no worker (--no-worker): queued jobs wait for `python -m jobs.worker`"
        code = self.proc.poll()
        if code is not None:
            return (
                f"the worker started with this app exited (code {code}); see the app's log, then restart it"
            )
        return None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM: running jobs stop at once and end `interrupted` (resumable); then wait."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _terminate_with_parent() -> None:
    """In the worker child (Linux): get SIGTERM when the app dies, however it dies.

    The app stops its worker on a clean exit, but a crash or `kill -9` of the app would
    otherwise leave an orphan worker holding the queue. SIGTERM makes the worker end its job
    `interrupted` (resumable), as on any worker shutdown.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux/glibc: the clean-exit path still applies
        pass


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        auth = config.parse_auth(os.environ.get("NEAT_AUTH"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.gpus is None and args.gpus_per_worker is not None:
        print("error: --gpus-per-worker needs --gpus (the GPUs to split into workers)", file=sys.stderr)
        return 2
    if args.gpus is not None:
        from jobs.devices import GpuSpecError, group_gpus, parse_gpus

        try:  # a bad list is refused here, not by a worker that then exits
            group_gpus(parse_gpus(args.gpus), args.gpus_per_worker or 1)
        except GpuSpecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    for name in ("HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED"):
        os.environ.setdefault(name, "1" if name.startswith("HF") else "False")
    home = config.neat_home()  # created now, so the worker and the UI agree on it
    os.environ["NEAT_HOME"] = str(home)
    if args.allow_remote_code:
        from app.access import REMOTE_CODE_ENV

        os.environ[REMOTE_CODE_ENV] = "1"

    from app import backend
    from app.ui import build_app, launch_kwargs

    worker = WorkerProcess(args.workers, args.gpus, args.gpus_per_worker)
    if not args.no_worker:
        worker.start()
        atexit.register(worker.stop)
    backend.watch_worker(worker.problem)

    def on_signal(signum, frame):  # a clean exit runs atexit (stops the worker)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    demo = build_app()
    # Finish the model libraries' lazy imports here, before any thread: the warm-up thread and a
    # first request importing them at once can see a half-initialised transformers module.
    import datasets  # noqa: F401
    import transformers

    from app.tabs.train.assistants import warm_up

    transformers.PreTrainedTokenizerBase  # noqa: B018 - the lazy attribute loads its module
    demo.queue(default_concurrency_limit=4)
    print(f"NEAT Studio: http://{args.host}:{args.port}  (data in {home})", flush=True)
    login = None
    if auth:
        from starlette.middleware import Middleware

        from app.login import Authenticator, ClientAddressMiddleware

        login = {
            "auth": Authenticator(auth),
            "app_kwargs": {"middleware": [Middleware(ClientAddressMiddleware)]},
        }
    try:
        demo.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            auth_message="NEAT Studio: sign in (NEAT_AUTH)" if auth else None,
            max_file_size=config.max_upload_bytes(),
            allowed_paths=[str(config.exports_dir())],
            footer_links=["gradio"],
            run_history=False,
            # Gradio's start-up self-check (a HEAD request answered within 3 s) fails on a busy
            # machine and then ends the app with "localhost is not accessible"; the server is up.
            _frontend=False,
            **(login or {}),
            **launch_kwargs(),
            prevent_thread_lock=True,
        )
        # after launch's own check that the page answers (3 s): on a busy machine the warm-up
        # (model description, data check with tokenisation) must not make that check fail
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
