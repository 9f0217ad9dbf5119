"""Files people upload: safe names, a size limit, a home under NEAT_HOME/uploads, a preview.

Uploads arrive in Gradio's temp folder under the browser's name for the file. We never trust
that name: it is reduced to a short, plain file name, prefixed with a content hash (so the
same file uploaded twice is stored once and two different files never collide), and the file
is copied under NEAT_HOME/uploads where the worker process can read it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
import zipfile
from pathlib import Path

from app import config
from neat.engine.errors import UserError

DATA_EXTENSIONS = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".zip")
_MAX_NAME = 80


class UploadError(UserError):
    """The uploaded file was refused (too large, wrong type, unsafe archive)."""


def sanitise_filename(name: str, default: str = "upload") -> str:
    """A plain, safe file name: no folders, no leading dots, only [A-Za-z0-9._-], short.

    >>> sanitise_filename("../../etc/My Reviews (final).CSV")
    'My_Reviews_final.csv'
    """
    name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    name = re.split(r"[\\/]", name)[-1]  # drop any folder part, Windows or POSIX
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = ext, ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-") or default
    ext = re.sub(r"[^A-Za-z0-9]+", "", ext).lower()
    stem = stem[: _MAX_NAME - len(ext) - 1]
    return f"{stem}.{ext}" if ext else stem


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:10]


def store_upload(
    temp_path: str | Path,
    original_name: str | None = None,
    allowed_extensions: tuple[str, ...] = DATA_EXTENSIONS,
    max_bytes: int | None = None,
    dest_dir: Path | None = None,
) -> Path:
    """Copy an uploaded file under NEAT_HOME/uploads with a sanitised name; return its new path.

    Raises UploadError when the file is missing, larger than the limit or of a refused type.
    A zip archive (an image folder) is unpacked next to it, refusing paths that escape it.
    """
    src = Path(temp_path)
    if not src.is_file():
        raise UploadError("the upload did not arrive; please try again")
    limit = config.max_upload_bytes() if max_bytes is None else max_bytes
    size = src.stat().st_size
    if size > limit:
        raise UploadError(
            f"the file is {size / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB (NEAT_MAX_UPLOAD_MB)"
        )
    if size == 0:
        raise UploadError("the file is empty")
    safe = sanitise_filename(original_name or src.name)
    suffix = Path(safe).suffix.lower()
    if suffix not in allowed_extensions:
        raise UploadError(
            f"files of type {suffix or '(none)'} are not accepted; use one of {', '.join(allowed_extensions)}"
        )
    dest_dir = dest_dir or config.uploads_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{_digest(src)}-{safe}"
    if not dest.exists():
        tmp = dest.with_name(dest.name + ".part")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
    if suffix == ".zip":
        return _unpack(dest)
    return dest


def _unpack(archive: Path) -> Path:
    """Unpack an image-folder zip next to it (once); refuse members that escape the folder."""
    target = archive.with_suffix("")
    if target.is_dir():
        return _content_root(target)
    try:
        with zipfile.ZipFile(archive) as zf:
            total = sum(info.file_size for info in zf.infolist())
            if total > 4 * config.max_upload_bytes():
                raise UploadError("the archive unpacks to more than 4x the upload limit")
            tmp = target.with_name(target.name + ".part")
            shutil.rmtree(tmp, ignore_errors=True)
            root = tmp.resolve()
            for info in zf.infolist():
                out = (tmp / info.filename).resolve()
                if not out.is_relative_to(root):
                    raise UploadError(f"the archive holds an unsafe path: {info.filename}")
            zf.extractall(tmp)
    except zipfile.BadZipFile as exc:
        raise UploadError(f"the file is not a valid zip archive: {exc}") from exc
    tmp.replace(target)
    return _content_root(target)


def _content_root(folder: Path) -> Path:
    """An archive holding one top folder (and maybe macOS clutter): that folder."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder
