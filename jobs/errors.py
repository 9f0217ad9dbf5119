"""Errors from the job store and API. Both are user errors: their str() is shown as-is."""

from neat.engine.errors import UserError


class JobNotFound(UserError, LookupError):
    """No job with that id (it may have been deleted)."""


class JobStateError(UserError):
    """The action does not fit the job's status (e.g. resuming a job that succeeded)."""
