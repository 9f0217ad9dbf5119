"""Where the app keeps its files and how it is reached: NEAT_HOME, uploads, login, limits.

Environment variables (all optional):
- NEAT_HOME: data folder (database, uploads, runs); default ~/.neat-studio.
- NEAT_AUTH: `user:password` (several separated by commas) turns on the login page.
- NEAT_ADMINS, NEAT_DATA_DIRS, NEAT_ALLOW_REMOTE_CODE: see app/access.py and app/paths.py.
- NEAT_MAX_UPLOAD_MB: largest file a user may upload (default 200 MB).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MAX_UPLOAD_MB = 200


from neat.engine.assets import neat_home  # noqa: E402 - one definition of the data folder for all layers


def uploads_dir() -> Path:
    folder = neat_home() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def exports_dir() -> Path:
    """Where zips built for download are staged (served to the browser from here)."""
    folder = neat_home() / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def browser_secret() -> str:
    """Key that encrypts what the UI keeps in the browser (form, selected job); kept in
    NEAT_HOME so a restart of the app can still read what browsers stored before."""
    import secrets

    path = neat_home() / ".browser-secret"
    try:
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    except OSError:
        pass
    value = secrets.token_hex(32)
    try:
        path.write_text(value, encoding="utf-8")
        path.chmod(0o600)
    except OSError:
        pass
    return value


def max_upload_bytes() -> int:
    """Upload size limit in bytes, from NEAT_MAX_UPLOAD_MB (a bad value falls back to the default)."""
    raw = os.environ.get("NEAT_MAX_UPLOAD_MB", "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        mb = DEFAULT_MAX_UPLOAD_MB
    if mb <= 0:
        mb = DEFAULT_MAX_UPLOAD_MB
    return int(mb * 1024 * 1024)


def parse_auth(value: str | None) -> list[tuple[str, str]] | None:
    """NEAT_AUTH's `user:password[,user2:password2]` as Gradio's auth list; None when unset.

    The password may itself contain ':' (only the first one separates); a user name or password
    may not be empty. Raises ValueError with a message fit for the command line.
    """
    if value is None or not value.strip():
        return None
    pairs = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError("NEAT_AUTH must look like user:password (several separated by commas)")
        pairs.append((user.strip(), password))
    if not pairs:
        raise ValueError("NEAT_AUTH must look like user:password (several separated by commas)")
    return pairs
