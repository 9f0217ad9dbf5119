"""Downloads of a finished run: the adapter as a zip, and a merged plain-transformers model.

    exports/adapter.zip   the adapter/ folder (PEFT adapter + tokenizer/processor), files at the
                          top level: unzip into a folder and `PeftModel.from_pretrained(base, folder)`;
                          with a model card (README.md) and the class names (labels.json)
    merged/               base weights + dW merged in, a plain model folder any transformers
                          Auto class loads (no PEFT needed), tokenizer/processor included
    exports/merged.zip    that folder zipped

Everything is built on first request and reused until the run's adapter changes (a resumed run
saves a new one). Folders and zips are written under a temporary name and renamed into place,
so a crash or two requests at once never leave a half-written export that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from neat.engine.errors import ModelLoadError
from neat.engine.inference import load_run_model, load_run_processor
from neat.engine.rundir import RunDir

# Already dense binary data: deflating them costs time and saves a few percent at most.
_STORED_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".npz")


def _newest_mtime_ns(folder: Path) -> int:
    """Newest change under `folder`, folders included (they change when a file is removed)."""
    return max(p.stat().st_mtime_ns for p in [folder, *folder.rglob("*")])


def _is_current(built: Path, source: Path) -> bool:
    return built.exists() and built.stat().st_mtime_ns > _newest_mtime_ns(source)


def _adapter_folder(out: Path) -> Path:
    adapter = RunDir(out).adapter
    if not adapter.is_dir() or not any(adapter.iterdir()):
        raise ModelLoadError(
            f"the run in {out} has nothing to export yet: adapter/ is missing (did training finish?)"
        )
    return adapter


def _zip_folder(folder: Path, target: Path, replace: dict[str, bytes] | None = None) -> Path:
    """`target` holding every file of `folder` (paths relative to it), with the files named in
    `replace` written from its contents instead (or added); rebuilt when `folder` changed."""
    replace = replace or {}
    if _is_current(target, folder):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                name = path.relative_to(folder).as_posix()
                if name in replace:
                    continue
                stored = path.suffix in _STORED_SUFFIXES
                archive.write(path, name, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
            for name, data in replace.items():
                archive.writestr(name, data, zipfile.ZIP_DEFLATED)
        tmp.chmod(0o644)  # mkstemp makes it private; the export is meant to be downloaded
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def adapter_zip(output_dir: str | Path) -> Path:
    """output_dir/exports/adapter.zip of the run's adapter/ folder (for `full`: the whole model),
    with a model card (README.md, neat/engine/model_card.py), the class names (labels.json), and
    the base model named by its public id in adapter_config.json, not by a path on this machine."""
    run = RunDir(output_dir)
    adapter = _adapter_folder(run.root)
    return _zip_folder(adapter, run.exports / "adapter.zip", _card_files(run, adapter))


def _card_files(run: RunDir, adapter: Path) -> dict[str, bytes]:
    from neat.engine.model_card import model_card, public_base

    files = {"README.md": model_card(run.root).encode("utf-8")}
    if run.labels_file.is_file():
        files["labels.json"] = run.labels_file.read_bytes()
    config_file = adapter / "adapter_config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if "base_model_name_or_path" in config:
            hub_id, _ = public_base(run.read_spec().model.name_or_path)
            config["base_model_name_or_path"] = hub_id
            files["adapter_config.json"] = json.dumps(config, indent=2, sort_keys=True).encode("utf-8")
    return files


def merged_dir(output_dir: str | Path) -> Path:
    """output_dir/merged: the fine-tuned model as a plain transformers folder, built once.

    NEAT and LoRA adapters are merged into the base weights (PEFT's merge_and_unload, which
    computes NEAT's dW from the original W0) and the trained task head replaces the base one.
    For full fine-tuning the model already is plain: adapter/ is copied.
    """
    run = RunDir(output_dir)
    out = run.root
    adapter = _adapter_folder(out)
    target = run.merged
    if (target / "config.json").is_file() and _is_current(target / "config.json", adapter):
        return target
    spec = run.read_spec()
    tmp = Path(tempfile.mkdtemp(prefix=".merged-", dir=out))
    try:
        if spec.method.name == "full":
            shutil.copytree(adapter, tmp, dirs_exist_ok=True)
        else:
            model = load_run_model(out, spec).merge_and_unload()
            model.save_pretrained(tmp)
            load_run_processor(out, spec).save_pretrained(tmp)
        (tmp / "config.json").touch()  # its time stamps the build (copytree keeps the old ones)
        tmp.chmod(0o755)  # mkdtemp makes it private
        _move_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished folder `tmp` to `target`, replacing an older or incomplete one."""
    if target.exists():
        stale = Path(tempfile.mkdtemp(prefix=".merged-old-", dir=target.parent))
        try:
            os.rename(target, stale / "merged")
        except FileNotFoundError:
            pass  # another request moved it away already
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(tmp, target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another request finished first: keep theirs


def merged_zip(output_dir: str | Path) -> Path:
    """output_dir/exports/merged.zip of merged/ (building merged/ first when missing or stale)."""
    return _zip_folder(merged_dir(output_dir), RunDir(output_dir).exports / "merged.zip")
