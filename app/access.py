"""Who may do what in the app: remote code (the operator's decision), server paths, whose jobs.

- Remote code: models that ship their own Python (`auto_map` + `*.py`) run it when loaded.
  Jobs may ask for it only when the server was started with `--allow-remote-code` (or
  NEAT_ALLOW_REMOTE_CODE=1), never for a folder under uploads, and the app process itself never
  loads such code (describing, the Playground and Insight refuse; only the worker trains them).
- Paths: see app/paths.py.
- Users: with NEAT_AUTH every job belongs to the account that queued it; an account sees and
  acts on its own jobs only, accounts listed in NEAT_ADMINS on all. Without NEAT_AUTH there is
  one implicit user who sees everything, as on a single machine.

The CLI (`python -m jobs`, `python -m neat.train`) is the local user and is not restricted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from app import paths
from neat.engine.errors import FieldError, UserError

REMOTE_CODE_FLAG = "--allow-remote-code"
REMOTE_CODE_ENV = "NEAT_ALLOW_REMOTE_CODE"


class RemoteCodeRefused(UserError):
    """The app was asked to load a model's own code in its own process."""


def remote_code_allowed() -> bool:
    return os.environ.get(REMOTE_CODE_ENV, "").strip().lower() in ("1", "true", "yes")


def no_remote_code_here() -> RemoteCodeRefused:
    return RemoteCodeRefused(
        "models that run their own code (trust_remote_code) are never loaded in the app process; "
        "the worker trains them, but the app does not describe or play with them"
    )


def spec_problems(spec) -> list[FieldError]:
    """What the app refuses to queue in `spec`: remote code it may not run, paths it may not read."""
    problems: list[FieldError] = []
    model = spec.model.name_or_path
    if spec.model.trust_remote_code:
        if not remote_code_allowed():
            problems.append(
                FieldError(
                    "model.trust_remote_code",
                    "remote code is off on this server; the operator can allow it by starting the "
                    f"app with {REMOTE_CODE_FLAG} (or {REMOTE_CODE_ENV}=1)",
                )
            )
        elif paths.under_uploads(model):
            problems.append(
                FieldError(
                    "model.trust_remote_code", "remote code is never allowed for uploaded model folders"
                )
            )
    problems += paths.check_ref(model, "model.name_or_path", "model folder")
    d = spec.dataset
    problems += paths.check_ref(d.source, "dataset.source", "dataset", builtin=True)
    if d.validation_source:
        problems += paths.check_ref(d.validation_source, "dataset.validation_source", "validation file")
    if d.test_source:
        problems += paths.check_test_ref(d.test_source)
    return problems


# ---- users -------------------------------------------------------------------------------------


def auth_enabled() -> bool:
    return bool(os.environ.get("NEAT_AUTH", "").strip())


def admins() -> set[str]:
    return {name.strip() for name in os.environ.get("NEAT_ADMINS", "").split(",") if name.strip()}


@dataclass(frozen=True)
class Viewer:
    """The account behind a request. name None: no login configured (the implicit local user)."""

    name: str | None
    admin: bool = False

    @property
    def sees_all(self) -> bool:
        return self.name is None or self.admin

    def may_see(self, job: dict) -> bool:
        return self.sees_all or (bool(self.name) and job.get("owner") == self.name)


def viewer_of(request=None) -> Viewer:
    """The Viewer of a Gradio request (gr.Request). Without NEAT_AUTH everyone is the implicit
    user; with it, a request without a signed-in user sees nothing."""
    if not auth_enabled():
        return Viewer(None, admin=True)
    name = getattr(request, "username", None) or ""
    return Viewer(name, admin=bool(name) and name in admins())
