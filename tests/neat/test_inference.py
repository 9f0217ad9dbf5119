"""The Playground's Predictor on real tiny run folders: classification, images, chat, errors.

Run folders are built here the way neat.train writes them (spec.yaml, labels.json, adapter/ with
the tokenizer or image processor next to the adapter), with adapters whose weights are non-zero
so that answers with and without the adapter really differ.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from PIL import Image

from neat.engine.errors import ModelLoadError, UserError
from neat.engine.inference import Predictor, seeded_base_model
from neat.engine.loading import head_module_names, load_base_model, load_processor
from neat.engine.spec import DataSpec, MethodSpec, ModelSpec, RunSpec, TrainingSpec
from neat.tuner import NeatConfig, get_neat_model
from tests.tiny_runs import tiny_bert_folder, tiny_llama_folder

TARGETS = {
    "classification": ["query", "value"],
    "causal-lm": ["q_proj", "v_proj"],
    "image-classification": ["q_proj", "v_proj"],
}
PEFT_TASK_TYPES = {"classification": "SEQ_CLS", "causal-lm": "CAUSAL_LM", "image-classification": None}


def tiny_vit_folder(path: Path) -> Path:
    """A 2-layer ViT for 16x16 RGB images with a PIL image processor."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    if not (path / "config.json").exists():
        torch.manual_seed(0)
        config = ViTConfig(
            image_size=16,
            patch_size=4,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=48,
            num_channels=3,
        )
        ViTForImageClassification(config).save_pretrained(path)
        ViTImageProcessorPil(
            size={"height": 16, "width": 16}, image_mean=[0.5] * 3, image_std=[0.5] * 3
        ).save_pretrained(path)
    return path


BASE_FOLDERS = {
    "classification": tiny_bert_folder,
    "causal-lm": tiny_llama_folder,
    "image-classification": tiny_vit_folder,
}


def _perturb(model: torch.nn.Module, names: tuple[str, ...], std: float, seed: int) -> None:
    """Give the named parameters random values, as training would have moved them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if any(part in name for part in names):
                param.copy_(torch.randn(param.shape, generator=g) * std)


def make_run(
    root: Path,
    task: str = "classification",
    method: str = "neat",
    labels: list[str] | None = None,
    regression: bool = False,
    r: int = 4,
    depth: int = 0,
    zero_adapter: bool = False,
    seed: int = 0,
) -> Path:
    """A finished-looking run folder under `root`; returns its path."""
    base_dir = BASE_FOLDERS[task](root / f"base-{task}")
    if task == "classification" and labels is None and not regression:
        labels = ["negative", "positive"]
    if task == "image-classification" and labels is None:
        labels = ["cat", "dog", "bird"]
    spec = RunSpec(
        name=f"{task}-{method}",
        task=task,
        model=ModelSpec(str(base_dir)),
        method=MethodSpec(method, r=r, depth=depth, scaling=1.0, target_modules=TARGETS[task]),
        # fp32: the answers are compared with plain fp32 transformers (auto may pick bf16 on CPU)
        training=TrainingSpec(max_length=32, seed=seed, precision="fp32"),
    )
    run = root / f"run-{task}-{method}-{'zero' if zero_adapter else 'trained'}"
    (run / "checkpoints").mkdir(parents=True)
    spec.save(run / "spec.yaml")
    if task != "causal-lm":
        (run / "labels.json").write_text(
            json.dumps({"regression": True} if regression else {"labels": labels})
        )
    torch.manual_seed(seed)
    model = load_base_model(spec, labels=labels, regression=regression)
    heads = head_module_names(model) or None
    common = dict(r=r, target_modules=TARGETS[task], modules_to_save=heads, task_type=PEFT_TASK_TYPES[task])
    if method == "neat":
        model = get_neat_model(model, NeatConfig(depth=depth, act_fn="relu", scaling=1.0, **common))
        trained = ("peanut_B",)
    elif method == "lora":
        model = get_peft_model(model, LoraConfig(lora_alpha=r, **common))
        trained = ("lora_B",)
    else:
        trained = tuple(f".{t}." for t in TARGETS[task])
    if not zero_adapter:
        _perturb(model, trained, std=0.5 if method != "full" else 0.05, seed=seed + 1)
        if heads:  # the trained task head: PEFT's copy, or the model's own for full fine-tuning
            head_names = ("modules_to_save.default",) if method != "full" else tuple(f"{h}." for h in heads)
            _perturb(model, head_names, std=0.5, seed=seed + 2)
    model.save_pretrained(run / "adapter")
    load_processor(spec).save_pretrained(run / "adapter")
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Run folders shared by this module's tests, built on first request."""
    root = tmp_path_factory.mktemp("runs")
    cache: dict = {}

    def get(task="classification", method="neat", **kwargs) -> Path:
        key = (task, method, tuple(sorted(kwargs.items())))
        if key not in cache:
            sub = root / str(len(cache))
            sub.mkdir()
            cache[key] = make_run(sub, task, method, **kwargs)
        return cache[key]

    return get


def image(seed: int = 0) -> Image.Image:
    g = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(20, 24, 3, generator=g) * 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")


# -- classification ----------------------------------------------------------------------------
def _reference_probabilities(run: Path, method: str, text: str) -> dict[str, float]:
    """The saved model's answer computed without neat.engine.inference: plain transformers + PEFT."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    spec = RunSpec.load(run / "spec.yaml")
    if method == "full":
        model = AutoModelForSequenceClassification.from_pretrained(run / "adapter")
    else:
        base = AutoModelForSequenceClassification.from_pretrained(spec.model.name_or_path, num_labels=2)
        model = PeftModel.from_pretrained(base, run / "adapter")
    tokenizer = AutoTokenizer.from_pretrained(run / "adapter")
    with torch.no_grad():
        logits = model.eval()(**tokenizer(text, return_tensors="pt")).logits[0]
    probs = torch.softmax(logits, -1).tolist()
    return {"negative": probs[0], "positive": probs[1]}  # labels.json lists them in id order


@pytest.mark.parametrize("method", ["neat", "lora", "full"])
def test_classify_gives_the_saved_models_probabilities_per_label(runs, method):
    run = runs("classification", method)
    predictor = Predictor.load(run)
    assert predictor.task == "classification" and predictor.labels == ["negative", "positive"]
    adapted = predictor.classify("a good film")
    assert list(adapted) == ["negative", "positive"]
    expected = _reference_probabilities(run, method, "a good film")
    assert adapted == pytest.approx(expected, abs=1e-5)
    assert abs(expected["positive"] - 0.5) > 0.05  # a swapped pairing would show
    # the base answer is the untouched base model's, with its freshly initialised (seeded) head
    base = predictor.classify_base("a good film")
    spec = RunSpec.load(run / "spec.yaml")
    plain = seeded_base_model(spec, predictor.labels, False).eval()
    with torch.no_grad():
        base_logits = plain(**predictor.processor("a good film", return_tensors="pt")).logits[0]
    assert base == pytest.approx(dict(zip(["negative", "positive"], torch.softmax(base_logits, -1).tolist())))
    assert base != pytest.approx(adapted, abs=1e-3)
    assert predictor.classify("a good film") == adapted  # deterministic, and the adapter is back on


def test_zero_adapter_answers_like_the_base_model(runs):
    predictor = Predictor.load(runs("classification", "neat", zero_adapter=True))
    # The head copies equal the base head and B = 0: the adapted model is the base model.
    adapted, base = predictor.classify("fine"), predictor.classify_base("fine")
    assert adapted == pytest.approx(base, abs=1e-6)


def test_classify_text_pair_and_regression(runs):
    predictor = Predictor.load(runs("classification", "neat", regression=True))
    assert predictor.regression and predictor.labels is None
    result = predictor.classify("first text", "second text")
    assert list(result) == ["value"] and isinstance(result["value"], float)
    assert predictor.classify("first text", "another second text") != result


def test_base_answers_repeat_across_loads(runs):
    # The base head is freshly initialised at load time: seeded by the run's own seed, so the
    # base answer is stable whatever else used the random generator before the load.
    run = runs("classification", "lora")
    torch.manual_seed(1)
    first = Predictor.load(run).classify_base("dull")
    torch.manual_seed(2)
    assert Predictor.load(run).classify_base("dull") == first


def test_a_fresh_head_is_seeded_by_the_run_not_by_the_caller(tmp_path):
    # A base model saved without a task head (as the embedded MiniLM is) gets a new head at
    # load time; the base panel's answer must not depend on what used the generator before.
    from transformers import BertModel

    base = tiny_bert_folder(tmp_path / "with-head")
    headless = tmp_path / "headless"
    BertModel.from_pretrained(base).save_pretrained(headless)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (base / name).exists():
            shutil.copy(base / name, headless / name)

    def head(run_seed: int, caller_seed: int) -> torch.Tensor:
        spec = RunSpec(task="classification", model=ModelSpec(str(headless)))
        spec.training.seed = run_seed
        torch.manual_seed(caller_seed)
        return seeded_base_model(spec, ["a", "b"], regression=False).classifier.weight.detach().clone()

    assert torch.equal(head(7, caller_seed=1), head(7, caller_seed=2))
    assert not torch.equal(head(7, caller_seed=1), head(8, caller_seed=1))


# -- images ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["neat", "full"])
def test_classify_image_returns_every_label(runs, method):
    predictor = Predictor.load(runs("image-classification", method))
    probs = predictor.classify_image(image())
    assert list(probs) == ["cat", "dog", "bird"]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
    base = predictor.classify_image(image(), use_adapter=False)
    assert list(base) == list(probs) and base != probs


# -- chat --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chat_predictor(runs) -> Predictor:
    return Predictor.load(runs("causal-lm", "neat"))


def _stream(predictor, prompt="hello there", use_adapter=True, **kwargs) -> list[str]:
    return list(predictor.chat_stream(prompt, use_adapter, **{"max_new_tokens": 12, **kwargs}))


def test_chat_stream_grows_and_repeats_with_the_same_seed(chat_predictor):
    steps = _stream(chat_predictor, seed=3)
    assert len(steps) >= 2
    for before, after in zip(steps, steps[1:]):
        assert after.startswith(before) and len(after) > len(before)
    assert _stream(chat_predictor, seed=3) == steps
    assert _stream(chat_predictor, seed=3)[-1] == steps[-1]  # the whole answer: the last value


def test_chat_samples_by_seed_when_the_temperature_is_above_zero(chat_predictor):
    answers = {seed: _stream(chat_predictor, seed=seed, temperature=1.0)[-1] for seed in range(4)}
    assert len(set(answers.values())) >= 2  # sampling, each seed its own draw
    assert _stream(chat_predictor, seed=2, temperature=1.0)[-1] == answers[2]
    greedy = _stream(chat_predictor, temperature=0.0)[-1]
    assert any(answer != greedy for answer in answers.values())


def test_chat_with_and_without_adapter_differ(chat_predictor):
    for kwargs in ({"temperature": 0.0}, {"temperature": 0.7, "seed": 1}):
        adapted = _stream(chat_predictor, use_adapter=True, **kwargs)[-1]
        base = _stream(chat_predictor, use_adapter=False, **kwargs)[-1]
        assert adapted != base
        # Switching the adapter off is scoped to the call: the next adapted answer is unchanged.
        assert _stream(chat_predictor, use_adapter=True, **kwargs)[-1] == adapted


def test_chat_prompt_uses_the_chat_template(chat_predictor):
    assert chat_predictor.chat_prompt("hi") == "[user] hi[SEP]\n[assistant] "


def test_concurrent_chats_do_not_mix_adapters(chat_predictor):
    expected = {
        flag: _stream(chat_predictor, use_adapter=flag, temperature=0.0)[-1] for flag in (True, False)
    }
    results: dict = {}

    def worker(i: int) -> None:
        flag = i % 2 == 0
        results[i] = (flag, _stream(chat_predictor, use_adapter=flag, temperature=0.0)[-1])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 6
    assert all(text == expected[flag] for flag, text in results.values())


def test_closing_a_stream_early_releases_the_model(chat_predictor):
    stream = chat_predictor.chat_stream("hello", True, max_new_tokens=60, temperature=0.0)
    first = next(stream)
    stream.close()  # the reader went away: generation stops and the lock is free again
    assert first
    assert _stream(chat_predictor, temperature=0.0)  # would hang if the lock were still held


def test_chat_without_template_uses_a_plain_transcript(tmp_path):
    run = make_run(tmp_path, "causal-lm", "lora")
    tokenizer_config = run / "adapter" / "tokenizer_config.json"
    config = json.loads(tokenizer_config.read_text())
    config.pop("chat_template", None)
    tokenizer_config.write_text(json.dumps(config))
    for extra in (run / "adapter").glob("chat_template.*"):
        extra.unlink()
    predictor = Predictor.load(run)
    assert predictor.chat_prompt("hi") == "User: hi\nAssistant:"
    assert _stream(predictor, temperature=0.0)


# -- errors ------------------------------------------------------------------------------------
def test_task_mismatch_is_a_clear_user_error(runs, chat_predictor):
    with pytest.raises(UserError, match="causal-lm.*chat_stream"):
        chat_predictor.classify("text")
    classifier = Predictor.load(runs("classification", "neat"))
    with pytest.raises(UserError, match="classification.*classify\\(\\)"):
        next(classifier.chat_stream("hi", True))
    with pytest.raises(UserError, match="image-classification"):
        classifier.classify_image(image())


def test_incomplete_run_folders_are_user_errors(tmp_path, runs):
    with pytest.raises(ModelLoadError, match="spec.yaml is missing"):
        Predictor.load(tmp_path)
    run = tmp_path / "unfinished"
    run.mkdir()
    shutil.copy(runs("classification", "neat") / "spec.yaml", run / "spec.yaml")
    (run / "labels.json").write_text(json.dumps({"labels": ["a", "b"]}))
    with pytest.raises(ModelLoadError, match="holds no adapter"):
        Predictor.load(run)
    (run / "labels.json").unlink()
    with pytest.raises(ModelLoadError, match="labels.json is missing"):
        Predictor.load(run)


# -- a real training run, end to end -----------------------------------------------------------
@pytest.mark.slow
def test_a_trained_run_loads_in_the_playground(tmp_path):
    from neat.engine.export import adapter_zip, merged_dir
    from neat.engine.insight import delta_spectrum
    from neat.engine.train import run
    from tests.tiny_runs import classification_spec, sentiment_csv

    spec = classification_spec(
        tiny_bert_folder(tmp_path / "bert"),
        sentiment_csv(tmp_path / "data.csv"),
        max_steps=40,
        eval_steps=20,
        learning_rate=0.2,
        head_learning_rate=0.2,
        precision="fp32",  # the thresholds below were set for fp32 training
    )
    out = tmp_path / "run"
    assert run(spec, out)["eval"]["eval_accuracy"] == 1.0
    predictor = Predictor.load(out)
    # sentences the run never saw, in the words of each class: each gets its own label, clearly
    for text, label in (
        ("a good and lovely film, great fun", "positive"),
        ("great, lovely, good", "positive"),
        ("a bad and dull film, awful", "negative"),
        ("poor, awful, bad", "negative"),
    ):
        probs = predictor.classify(text)
        assert set(probs) == {"negative", "positive"}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert probs[label] > 0.6, (text, probs)
    spectrum = delta_spectrum(out, predictor=predictor)
    assert spectrum and all(entry["fro_norm"] > 0 for entry in spectrum)
    assert (adapter_zip(out)).is_file() and (merged_dir(out) / "config.json").is_file()


@pytest.mark.slow
def test_a_trained_chat_run_streams(tmp_path):
    from neat.engine.train import run
    from tests.tiny_runs import chat_jsonl

    spec = RunSpec(
        name="tiny-chat",
        task="causal-lm",
        model=ModelSpec(str(tiny_llama_folder(tmp_path / "llama"))),
        dataset=DataSpec(str(chat_jsonl(tmp_path / "chat.jsonl"))),
        method=MethodSpec("lora", r=4),
        training=TrainingSpec(max_steps=6, batch_size=8, eval_steps=3, learning_rate=1e-2, warmup_ratio=0.0),
    )
    out = tmp_path / "run"
    run(spec, out)
    predictor = Predictor.load(out)
    steps = list(predictor.chat_stream("say hello 1", True, max_new_tokens=8, temperature=0.0))
    assert steps and all(b.startswith(a) for a, b in zip(steps, steps[1:]))
