"""The adapter download's README.md: what was trained, how well, and how to load it with plain PEFT.

Written from the run folder (spec.yaml, labels.json, summary.json) when the adapter zip is
built (neat/engine/export.py). The base model is named the way someone else can find it: a
hub id, or the embedded model's public source; never a path inside this installation.
"""

from __future__ import annotations

import json
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import yaml

from neat.engine.rundir import RunDir

# Where the embedded models come from, for someone without this app. SmolLM2 ships as a Q4_1
# GGUF that the app dequantises (neat/engine/assets.py): the hub's weights are close, not equal.
EMBEDDED_SOURCES = {
    "embedded:minilm": ("sentence-transformers/all-MiniLM-L6-v2", ""),
    "embedded:smollm2": (
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "trained on the dequantised Q4_1 GGUF of this model that NEAT Studio ships; the hub's "
        "full-precision weights are close to it, not identical",
    ),
    "embedded:vit-tiny": (
        None,
        "a small ViT that NEAT Studio builds from a config with random weights; no hub model "
        "reproduces it, so use the merged-model download to run it elsewhere",
    ),
}
AUTO_CLASSES = {
    "classification": "AutoModelForSequenceClassification",
    "causal-lm": "AutoModelForCausalLM",
    "image-classification": "AutoModelForImageClassification",
}
PEFT_NAMES = {"neat": "NEAT (PEFT's PEANuT)", "lora": "LoRA", "full": "full fine-tuning"}


def app_version() -> str:
    """This app's version: the installed package's, else the source tree's pyproject.toml."""
    try:
        return version("neat-studio")
    except PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def public_base(name_or_path: str) -> tuple[str | None, str]:
    """(an id others can load the base model by, or None; a note) — never a local path."""
    if name_or_path in EMBEDDED_SOURCES:
        hub_id, note = EMBEDDED_SOURCES[name_or_path]
        return hub_id, note
    if name_or_path.startswith(("/", "./", "../", "~")) or Path(name_or_path).expanduser().exists():
        folder = Path(name_or_path).name
        return None, f"a local model folder named `{folder}`; point the code below at your copy of it"
    return name_or_path, ""  # a hub id


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def model_card(output_dir: str | Path) -> str:
    """README.md for the run's adapter download."""
    run = RunDir(output_dir)
    spec = run.read_spec()
    summary = read_json(run.summary_file)
    labels = read_json(run.labels_file)
    hub_id, note = public_base(spec.model.name_or_path)
    base = hub_id or "PATH/TO/BASE-MODEL"
    m = spec.method
    tags = ["peft", "neat-studio", spec.task, *(["neat", "peanut"] if m.name == "neat" else [m.name])]
    front = {"base_model": hub_id, "library_name": "peft", "tags": tags}
    if hub_id is None:
        front.pop("base_model")
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {spec.name}", ""]
    lines.append(
        f"A {PEFT_NAMES.get(m.name, m.name)} adapter for `{base}`, fine-tuned for {spec.task} "
        f"with NEAT Studio {app_version()}."
    )
    lines += ["", f"- **Base model:** `{hub_id}`" if hub_id else f"- **Base model:** {note}"]
    if hub_id and note:
        lines[-1] += f" ({note})"
    if spec.model.name_or_path in EMBEDDED_SOURCES:
        lines[-1] += f"; in NEAT Studio: `{spec.model.name_or_path}`"
    lines.append(f"- **Task:** {spec.task}")
    names = labels.get("labels")
    if names:
        lines.append(f"- **Labels** ({len(names)}, in id order; also in `labels.json`): {', '.join(names)}")
    elif labels.get("regression"):
        lines.append("- **Labels:** regression (one output; `labels.json` says so)")
    shape = f"r={m.r}" + (f", depth {m.depth}, {m.act_fn}, scaling {m.scaling:g}" if m.name == "neat" else "")
    targets = ", ".join(m.target_modules or []) or "the architecture's defaults"
    lines.append(f"- **Method:** {m.name} ({shape}) on {targets}")
    if summary.get("trainable_parameters"):
        lines.append(f"- **Trainable parameters:** {summary['trainable_parameters']:,}")
    if summary.get("global_step") is not None:
        lines.append(
            f"- **Training:** {summary['global_step']:,} steps, precision {summary.get('precision', '?')}, "
            f"{summary.get('train_seconds', '?')} s"
        )
    lines += ["", *_metrics(summary), "", *_how_to_load(spec, base, bool(names), labels), ""]
    lines += ["## Training spec", "", "The exact spec (`python -m neat.train spec.yaml` reruns it):", ""]
    lines += ["```yaml", _public_spec_yaml(spec).rstrip(), "```", ""]
    lines += ["## Versions", "", *_versions(summary), ""]
    return "\n".join(lines)


def _metrics(summary: dict) -> list[str]:
    rows = []
    for name, value in (summary.get("eval") or {}).items():
        rows.append(("final (validation)", name, value))
    if summary.get("best_metric") is not None:
        rows.append(("best checkpoint (validation)", "best metric", summary["best_metric"]))
    for name, value in (summary.get("test") or {}).items():
        rows.append(("test", name, value))
    if not rows:
        return ["## Metrics", "", "No metrics were recorded for this run."]
    out = ["## Metrics", "", "| split | metric | value |", "|---|---|---|"]
    out += [
        f"| {split} | {name} | {value:.4g} |"
        for split, name, value in rows
        if isinstance(value, (int, float))
    ]
    return out


def _how_to_load(spec, base: str, has_labels: bool, labels: dict) -> list[str]:
    auto = AUTO_CLASSES.get(spec.task, "AutoModel")
    out = [
        "## How to load it with PEFT",
        "",
        "Unzip this download into a folder `adapter/`, then:",
        "",
        "```python",
    ]
    if spec.method.name == "full":
        out += [
            f"from transformers import {auto}",
            "",
            f'model = {auto}.from_pretrained("adapter")  # a whole model',
        ]
        return [*out, "```"]
    processor = "AutoImageProcessor" if spec.task == "image-classification" else "AutoTokenizer"
    if has_labels:
        out += ["import json", ""]
    out += ["from peft import PeftModel", f"from transformers import {auto}, {processor}", ""]
    if has_labels:
        out += [
            'labels = json.load(open("adapter/labels.json"))["labels"]',
            f"base = {auto}.from_pretrained(",
            f'    "{base}",',
            "    num_labels=len(labels),",
            "    id2label=dict(enumerate(labels)),",
            "    label2id={name: i for i, name in enumerate(labels)},",
            ")",
        ]
    elif labels.get("regression"):
        out.append(f'base = {auto}.from_pretrained("{base}", num_labels=1, problem_type="regression")')
    else:
        out.append(f'base = {auto}.from_pretrained("{base}")')
    out += [
        'model = PeftModel.from_pretrained(base, "adapter").eval()  # the trained head comes with it',
        f'processor = {processor}.from_pretrained("adapter")',
    ]
    if spec.task == "causal-lm":
        out += [
            'chat = [{"role": "user", "content": "Hello!"}]',
            'ids = processor.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")',
            "print(processor.decode(model.generate(ids, max_new_tokens=40)[0][ids.shape[1]:]))",
        ]
    elif spec.task == "classification":
        out += [
            'logits = model(**processor("a wonderful film", return_tensors="pt")).logits',
            "print(labels[logits.argmax(-1).item()])" if has_labels else "print(logits)",
        ]
    out.append("```")
    out += ["", "`model.merge_and_unload()` folds the update into the base weights for a plain model."]
    return out


def _public_spec_yaml(spec) -> str:
    """The spec with local paths reduced to their names (the base model, the data files)."""
    data = spec.to_dict()
    hub_id, _ = public_base(spec.model.name_or_path)
    data["model"]["name_or_path"] = hub_id or Path(spec.model.name_or_path).name
    if spec.model.name_or_path in EMBEDDED_SOURCES:
        data["model"]["name_or_path"] = spec.model.name_or_path
    for key in ("source", "validation_source"):
        value = data["dataset"].get(key)
        if value and (value.startswith(("/", "~", "./", "../")) or Path(value).expanduser().exists()):
            data["dataset"][key] = Path(value).name
    return yaml.safe_dump(data, sort_keys=False)


def _versions(summary: dict) -> list[str]:
    found = dict(summary.get("versions") or {})
    if not found:
        from neat.engine.summary import library_versions

        found = library_versions()
    found["neat-studio"] = app_version()
    return [
        f"- {name} {found[name]}"
        for name in ("torch", "transformers", "peft", "neat-studio")
        if name in found
    ]
