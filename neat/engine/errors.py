"""Errors a user can cause. Their message is shown as-is in the UI and stored on failed jobs."""


class UserError(Exception):
    """Base class: something about the user's input (spec, data, model) is wrong."""


class FieldError(UserError):
    """One spec field is invalid. `field` is a dotted path such as `method.r`."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class SpecError(UserError):
    """A spec failed validation; `errors` lists every bad field, not only the first."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class DatasetError(UserError):
    """The dataset cannot be used: missing columns, unreadable file, a single class, ..."""


class ModelLoadError(UserError):
    """The model cannot be found or loaded."""


class OutOfMemoryError(UserError):
    """Training ran out of (GPU or host) memory."""


class TrainingStopped(Exception):
    """Raised inside the engine when a listener asked training to stop (e.g. job cancelled)."""
