"""Which server paths the app may read: NEAT_HOME/uploads and the folders in NEAT_DATA_DIRS.

Anyone who can open the app may type a path into the dataset, validation-file or model-folder
fields, so the app (never the CLI, which runs as its local user) reads a server path only when
it lies under one of those roots. Every refusal reads the same, "not found or not allowed",
whether the path exists or not, so the answer does not tell which paths exist. Run folders
(and everything else in NEAT_HOME) are reached only through their jobs.

Hub ids (`imdb`, `org/name`) are not paths and stay allowed; names of built-in datasets and
`embedded:` models too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from neat.engine.assets import neat_home
from neat.engine.data import _data_suffix
from neat.engine.errors import FieldError
from neat.engine.spec import BUILTIN_DATASETS

_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
REFUSED = "not found or not allowed"
HINT = "the app reads server files only under NEAT_HOME/uploads and the folders listed in NEAT_DATA_DIRS"


def uploads_root() -> Path:
    return (neat_home() / "uploads").resolve()


def data_dirs() -> list[Path]:
    """NEAT_DATA_DIRS: folders the operator opens to the app, separated by ':' (os.pathsep) or ','."""
    raw = os.environ.get("NEAT_DATA_DIRS", "")
    return [Path(p.strip()).expanduser().resolve() for p in re.split(rf"[,{os.pathsep}]", raw) if p.strip()]


def allowed_roots() -> list[Path]:
    return [uploads_root(), *data_dirs()]


def is_hub_id(ref: str) -> bool:
    """`name` or `org/name` without a data-file extension (those are files, not hub repos)."""
    return bool(_HUB_ID.fullmatch(ref)) and not _data_suffix(Path(ref))


def is_allowed_path(path: str | Path) -> bool:
    """True when `path` (after resolving links and `..`) exists under an allowed root and is not
    inside NEAT_HOME outside its uploads folder (runs, database, secrets)."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    home, uploads = neat_home().resolve(), uploads_root()
    if resolved.is_relative_to(home) and not resolved.is_relative_to(uploads):
        return False
    if not any(resolved.is_relative_to(root) for root in allowed_roots()):
        return False
    return resolved.exists()


def refusal(what: str, ref: str) -> str:
    return f"{what} {ref}: {REFUSED} ({HINT})"


def check_ref(ref: str, field: str, what: str, builtin: bool = False) -> list[FieldError]:
    """[] when the app may use `ref` (a hub id, a built-in, or an allowed existing path); else one
    FieldError that reads the same whether or not the path exists."""
    ref = (ref or "").strip()
    if not ref or ref.startswith("embedded:") or (builtin and ref in BUILTIN_DATASETS):
        return []
    if is_hub_id(ref) and not _exists(ref):
        return []  # a hub id; a relative name that exists here is a path, not a hub id
    if is_allowed_path(ref):
        return []
    return [FieldError(field, refusal(what, ref))]


def _exists(ref: str) -> bool:
    try:
        return Path(ref).exists()
    except OSError:
        return False


def under_uploads(path: str | Path) -> bool:
    try:
        return Path(path).expanduser().resolve().is_relative_to(uploads_root())
    except (OSError, RuntimeError, ValueError):
        return False


def check_test_ref(ref: str) -> list[FieldError]:
    """dataset.test_source, as check_ref, where `ID:SPLIT` and `:SPLIT` name a split of a hub
    dataset (`:SPLIT`: of the training source, which is checked on its own)."""
    name, colon, split = (ref or "").strip().rpartition(":")
    if colon and split and "/" not in split and (not name or is_hub_id(name)):
        ref = name
    return check_ref(ref, "dataset.test_source", "test file")
