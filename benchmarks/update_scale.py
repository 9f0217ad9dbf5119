"""How far one learning rate moves NEAT and LoRA: ||dW|| per step, and H = act(A W0) at init.

For each model and each adapted layer this measures
  * at initialisation: rms(W0), rms(H) with H^T = act(A W0), the share of H's entries a ReLU
    zeroes (the pre-activation A W0 does not depend on the data), and whole hidden units that are
    zero for every input column (a dead unit whose A row gets no gradient through act);
  * in training: ||dW||_F of the adapter's dense update after each of `--steps` AdamW steps at
    the same learning rate for every contender, on one fixed random batch and the model's own loss
    (random labels / next tokens: the point is the step size, not the task).
Contenders: LoRA (alpha = r), NEAT with PEFT's Kaiming A at scaling 0.1 (the old app default)
and 1.0, and NEAT with the calibrated A (init_weights="calibrated") at scaling 1.0.

  python benchmarks/update_scale.py --json update_scale.json             # all four models
  python benchmarks/update_scale.py --models tiny-llama,vit --steps 5   # seconds
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402

from neat.tuner import NeatConfig, default_target_modules, get_neat_model  # noqa: E402

CONTENDERS = {
    "lora": {"method": "lora"},
    "neat-kaiming-s0.1": {"method": "neat", "init_weights": True, "scaling": 0.1},
    "neat-kaiming-s1": {"method": "neat", "init_weights": True, "scaling": 1.0},
    "neat-calibrated-s1": {"method": "neat", "init_weights": "calibrated", "scaling": 1.0},
}


def build_model(name: str):
    """(model, batch) for one of the measured models."""
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForImageClassification,
        AutoModelForSequenceClassification,
        LlamaConfig,
        LlamaForCausalLM,
    )

    from neat.engine.assets import resolve_model_path

    g = torch.Generator().manual_seed(0)
    if name == "minilm":
        path, extra = resolve_model_path("embedded:minilm")
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, **extra)
        ids = torch.randint(1000, 20000, (8, 32), generator=g)
        return model, {"input_ids": ids, "labels": torch.randint(0, 2, (8,), generator=g)}
    if name == "smollm2":
        path, extra = resolve_model_path("embedded:smollm2")
        model = AutoModelForCausalLM.from_pretrained(path, **extra)
        ids = torch.randint(100, 20000, (4, 32), generator=g)
        return model, {"input_ids": ids, "labels": ids}
    if name == "tiny-llama":  # random weights from a config (std 0.02, as transformers initialises)
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=1000,
            hidden_size=256,
            intermediate_size=512,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
        ids = torch.randint(0, 1000, (8, 32), generator=g)
        return LlamaForCausalLM(config), {"input_ids": ids, "labels": ids}
    if name == "vit":
        path, extra = resolve_model_path("embedded:vit-tiny")
        torch.manual_seed(0)
        model = AutoModelForImageClassification.from_pretrained(
            path, num_labels=10, ignore_mismatched_sizes=True, **extra
        )
        size = model.config.image_size
        pixels = torch.randn(16, model.config.num_channels, size, size, generator=g)
        return model, {"pixel_values": pixels, "labels": torch.randint(0, 10, (16,), generator=g)}
    raise SystemExit(f"unknown model {name!r}")


def attach(model, contender: dict, r: int):
    targets = default_target_modules(model)
    torch.manual_seed(1)
    if contender["method"] == "lora":
        return get_peft_model(model, LoraConfig(r=r, lora_alpha=r, target_modules=targets))
    config = NeatConfig(
        r=r, target_modules=targets, scaling=contender["scaling"], init_weights=contender["init_weights"]
    )
    return get_neat_model(model, config)


def adapted_layers(model) -> dict[str, torch.nn.Module]:
    return {
        name: module
        for name, module in model.named_modules()
        if hasattr(module, "get_delta_weight")
        and ("lora_A" in dir(module) or "peanut_A" in dir(module))
        and (getattr(module, "lora_A", None) or getattr(module, "peanut_A", None))
    }


@torch.no_grad()
def init_stats(layer) -> dict:
    w0 = layer.get_base_layer().weight
    stats = {
        "w0_rms": float(w0.float().pow(2).mean().sqrt()),
        "in": layer.in_features,
        "out": layer.out_features,
    }
    if hasattr(layer, "_hidden_t"):
        h_t = layer._hidden_t("default", layer._w0(w0))
        pre = layer.peanut_A["default"].weight @ layer._w0(w0)
        stats.update(
            h_rms=float(h_t.pow(2).mean().sqrt()),
            h_rms_times_sqrt_in=float(h_t.pow(2).mean().sqrt()) * layer.in_features**0.5,
            pre_rms=float(pre.pow(2).mean().sqrt()),
            relu_zero_share=float((pre <= 0).float().mean()),
            dead_units=int((pre <= 0).all(dim=1).sum()),
        )
    else:
        a = layer.lora_A["default"].weight
        stats.update(
            a_rms=float(a.pow(2).mean().sqrt()),
            a_rms_times_sqrt_in=float(a.pow(2).mean().sqrt()) * a.shape[1] ** 0.5,
        )
    return stats


def measure(model_name: str, contender_name: str, steps: int, lr: float, r: int) -> dict:
    base, batch = build_model(model_name)
    model = attach(copy.deepcopy(base), CONTENDERS[contender_name], r)
    layers = adapted_layers(model)
    record = {"layers": {name: init_stats(layer) for name, layer in layers.items()}}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    norms = {name: [] for name in layers}
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        losses.append(float(loss))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for name, layer in layers.items():
                norms[name].append(float(layer.get_delta_weight("default").float().norm()))
    for name in layers:
        w0_norm = float(layers[name].get_base_layer().weight.float().norm())
        record["layers"][name]["dw_norm_per_step"] = norms[name]
        record["layers"][name]["dw_over_w0_final"] = norms[name][-1] / w0_norm
    record["losses"] = losses
    return record


def summarise(record: dict) -> dict:
    layers = list(record["layers"].values())
    med = lambda key: statistics.median(layer[key] for layer in layers if key in layer)  # noqa: E731
    dw = [layer["dw_norm_per_step"] for layer in layers]
    first = statistics.median(d[0] for d in dw)
    last = statistics.median(d[-1] for d in dw)
    summary = {
        "layers": len(layers),
        "w0_rms_median": med("w0_rms"),
        "w0_rms_range": [min(layer["w0_rms"] for layer in layers), max(layer["w0_rms"] for layer in layers)],
        "dw_step1_median": first,
        "dw_final_median": last,
        "dw_final_range": [min(d[-1] for d in dw), max(d[-1] for d in dw)],
        "dw_final_max_over_min": max(d[-1] for d in dw) / max(min(d[-1] for d in dw), 1e-30),
        "dw_over_w0_final_median": med("dw_over_w0_final"),
        "loss_first": record["losses"][0],
        "loss_last": record["losses"][-1],
    }
    if "h_rms" in layers[0]:
        summary.update(
            h_rms_times_sqrt_in_median=med("h_rms_times_sqrt_in"),
            h_rms_times_sqrt_in_range=[
                min(layer["h_rms_times_sqrt_in"] for layer in layers),
                max(layer["h_rms_times_sqrt_in"] for layer in layers),
            ],
            relu_zero_share_median=med("relu_zero_share"),
            dead_units_total=sum(layer["dead_units"] for layer in layers),
        )
    else:
        summary["a_rms_times_sqrt_in_median"] = med("a_rms_times_sqrt_in")
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="minilm,smollm2,tiny-llama,vit")
    p.add_argument("--contenders", default=",".join(CONTENDERS))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="write every layer's numbers here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    out = {
        "command": "python benchmarks/update_scale.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "lr": args.lr,
        "steps": args.steps,
        "r": args.r,
        "models": {},
    }
    for model_name in args.models.split(","):
        out["models"][model_name] = {}
        for contender in args.contenders.split(","):
            record = measure(model_name, contender, args.steps, args.lr, args.r)
            record["summary"] = summarise(record)
            out["models"][model_name][contender] = record
            s = record["summary"]
            extra = (
                f"rms(H)*sqrt(in) {s['h_rms_times_sqrt_in_median']:.3f}, "
                f"ReLU zeros {s['relu_zero_share_median']:.2f}, "
                f"dead units {s['dead_units_total']}"
                if "h_rms_times_sqrt_in_median" in s
                else f"rms(A)*sqrt(in) {s['a_rms_times_sqrt_in_median']:.3f}"
            )
            print(
                f"{model_name:10s} {contender:20s} rms(W0) {s['w0_rms_median']:.4f} | ||dW|| step1 "
                f"{s['dw_step1_median']:.2e} step{args.steps} {s['dw_final_median']:.2e} "
                f"(layers {s['dw_final_range'][0]:.1e}..{s['dw_final_range'][1]:.1e}) "
                f"||dW||/||W0|| {s['dw_over_w0_final_median']:.2e} | {extra} | "
                f"loss {s['loss_first']:.3f}->{s['loss_last']:.3f}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
