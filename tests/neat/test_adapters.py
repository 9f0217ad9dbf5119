"""NEAT adapters: equal to stock PEFT PEANuT, exact no-op at init, exact merge/unmerge, PEFT format."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import PeanutConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
from transformers.pytorch_utils import Conv1D

from neat.layer import NeatLinear
from neat.tuner import (
    NeatConfig,
    count_adapter_params,
    default_target_modules,
    get_neat_model,
    list_linear_modules,
    load_neat_model,
)
from tests.neat.tiny_models import BUILDERS, TARGETS, model_inputs

STOCK_KINDS = ["bert", "llama", "vit"]  # stock PEANuT refuses GPT-2's Conv1D


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def logits(model, inputs):
    return model(**inputs).logits


def paired_models(kind: str, depth: int, act_fn: str, init_weights: bool = False):
    """(stock PEANuT, ours) with identical weights."""
    base = BUILDERS[kind]()
    cfg = dict(
        r=4, depth=depth, act_fn=act_fn, scaling=0.7, target_modules=TARGETS[kind], init_weights=init_weights
    )
    stock = get_peft_model(copy.deepcopy(base), PeanutConfig(**cfg))
    ours = get_neat_model(copy.deepcopy(base), NeatConfig(**cfg))
    ours.load_state_dict(stock.state_dict())
    return stock, ours


@pytest.mark.parametrize("kind", STOCK_KINDS)
@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("act_fn", ["relu", "gelu", "silu", "tanh"])
def test_forward_and_gradients_equal_stock_peanut(kind, depth, act_fn):
    stock, ours = paired_models(kind, depth, act_fn)
    assert any(isinstance(m, NeatLinear) for m in ours.modules())
    inputs = model_inputs(kind)
    out_stock, out_ours = logits(stock, inputs), logits(ours, inputs)
    assert rel_err(out_ours, out_stock) <= 1e-5

    weight = torch.randn_like(out_stock)
    (out_stock * weight).sum().backward()
    (out_ours * weight).sum().backward()
    stock_grads = {n: p.grad for n, p in stock.named_parameters() if "peanut_" in n}
    our_grads = {n: p.grad for n, p in ours.named_parameters() if "peanut_" in n}
    assert stock_grads.keys() == our_grads.keys() and stock_grads
    for name, grad in stock_grads.items():
        assert our_grads[name] is not None, name
        assert rel_err(our_grads[name], grad) <= 1e-5, name


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_zero_initialised_b_is_exact_noop(kind):
    base = BUILDERS[kind]()
    inputs = model_inputs(kind)
    expected = logits(base, inputs)
    model = get_neat_model(base, NeatConfig(r=4, depth=1, target_modules=TARGETS[kind]))
    assert torch.equal(logits(model, inputs), expected)


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_merge_then_unmerge_restores_w0_bit_exactly(kind):
    base = BUILDERS[kind]()
    model = get_neat_model(
        base, NeatConfig(r=4, depth=1, act_fn="gelu", target_modules=TARGETS[kind], init_weights=False)
    )
    inputs = model_inputs(kind)
    unmerged = logits(model, inputs)
    layers = [m for m in model.modules() if isinstance(m, NeatLinear)]
    originals = [m.get_base_layer().weight.detach().clone() for m in layers]
    with torch.no_grad():
        model.merge_adapter()
    assert all(not torch.equal(m.get_base_layer().weight, w) for m, w in zip(layers, originals))
    assert rel_err(logits(model, inputs), unmerged) <= 1e-5
    model.unmerge_adapter()
    for m, w in zip(layers, originals):
        assert torch.equal(m.get_base_layer().weight, w)
    assert rel_err(logits(model, inputs), unmerged) <= 1e-6


def _trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_merge_and_unload_gives_plain_model_that_reloads(tmp_path):
    model = get_neat_model(
        BUILDERS["llama"](), NeatConfig(r=4, target_modules=TARGETS["llama"], init_weights=False)
    )
    inputs = model_inputs("llama")
    expected = logits(model, inputs)
    merged = model.merge_and_unload()
    assert not any(isinstance(m, NeatLinear) for m in merged.modules())
    merged.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert rel_err(logits(reloaded, inputs), expected) <= 1e-5


def test_gpt2_conv1d_matches_stock_on_the_equivalent_linear():
    torch.manual_seed(0)
    conv = Conv1D(12, 8)  # nf=12 out, nx=8 in; weight (in, out)
    linear = torch.nn.Linear(8, 12)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.t())
        linear.bias.copy_(conv.bias)
    cfg = PeanutConfig(r=3, depth=1, act_fn="tanh", scaling=0.5, init_weights=False)
    ours = NeatLinear(conv, "default", r=3, config=cfg)
    from peft.tuners.peanut.layer import Linear as StockLinear

    stock = StockLinear(linear, "default", r=3, config=cfg)
    ours.load_state_dict(
        {
            k.replace("base_layer.weight", "base_layer.weight"): v
            for k, v in stock.state_dict().items()
            if "base_layer" not in k
        },
        strict=False,
    )
    x = torch.randn(5, 8)
    assert rel_err(ours(x), stock(x)) <= 1e-5
    # merged Conv1D weight is W0 + dW in the transposed storage layout
    ours.merge()
    assert rel_err(ours(x), stock(x)) <= 1e-5
    ours.unmerge()
    assert torch.equal(ours.get_base_layer().weight, conv.weight)


def test_gpt2_model_trains_and_merges():
    torch.manual_seed(0)
    model = get_neat_model(BUILDERS["gpt2"](), NeatConfig(r=4, depth=1, target_modules=["c_attn"]))
    model.eval()  # no dropout: a deterministic memorisation task
    inputs = model_inputs("gpt2")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-2)
    losses = []
    for _ in range(40):
        loss = model(**inputs, labels=inputs["input_ids"]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.95 * losses[0]  # the Conv1D adapters learn (only they are trainable)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n, _ in model.named_parameters() if "peanut_" in n
    }
    b_weights = [p for n, p in model.named_parameters() if "peanut_B" in n]
    assert b_weights and all(p.abs().sum() > 0 for p in b_weights)
    before = logits(model, inputs).detach()
    merged = model.merge_and_unload()
    assert rel_err(logits(merged, inputs), before) <= 1e-5


def test_stock_peft_loads_our_adapter_and_we_load_stock(tmp_path):
    stock, ours = paired_models("bert", depth=1, act_fn="relu")
    inputs = model_inputs("bert")
    expected = logits(ours, inputs)
    ours.save_pretrained(tmp_path / "ours")
    stock.save_pretrained(tmp_path / "stock")

    plain = PeftModel.from_pretrained(BUILDERS["bert"](), tmp_path / "ours")  # no project code
    assert not any(isinstance(m, NeatLinear) for m in plain.modules())
    assert rel_err(logits(plain, inputs), expected) <= 1e-5

    loaded = load_neat_model(BUILDERS["bert"](), tmp_path / "stock")
    assert any(isinstance(m, NeatLinear) for m in loaded.modules())
    assert rel_err(logits(loaded, inputs), expected) <= 1e-5


def test_classifier_head_saved_through_modules_to_save(tmp_path):
    base = BUILDERS["bert"]()
    model = get_neat_model(base, NeatConfig(r=4, task_type="SEQ_CLS", target_modules=["query", "value"]))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("classifier" in n for n in trainable)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "classifier" in n and "modules_to_save" in n:
                p.add_(1.0)
    inputs = model_inputs("bert")
    expected = logits(model, inputs)
    model.save_pretrained(tmp_path)
    reloaded = PeftModel.from_pretrained(BUILDERS["bert"](), tmp_path)
    assert rel_err(logits(reloaded, inputs), expected) <= 1e-5


def test_disable_adapter_gives_base_outputs():
    base = BUILDERS["llama"]()
    inputs = model_inputs("llama")
    expected = logits(base, inputs)
    model = get_neat_model(base, NeatConfig(r=4, target_modules=TARGETS["llama"], init_weights=False))
    assert not torch.allclose(logits(model, inputs), expected)
    with model.disable_adapter():
        assert torch.equal(logits(model, inputs), expected)


def test_a_few_optimizer_steps_lower_the_loss():
    torch.manual_seed(0)
    model = get_neat_model(
        BUILDERS["bert"](), NeatConfig(r=4, depth=1, task_type="SEQ_CLS", target_modules=["query", "value"])
    )
    model.eval()  # no dropout: a deterministic memorisation task
    input_ids = torch.randint(0, 120, (16, 8))
    labels = (input_ids[:, 0] % 2).long()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(60):
        loss = model(input_ids=input_ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    b_weights = [p for n, p in model.named_parameters() if "peanut_B" in n]
    assert b_weights and all(p.abs().sum() > 0 for p in b_weights)  # the adapter itself learned


def test_bf16_base_with_fp32_adapter_runs_close_to_fp32():
    base = BUILDERS["llama"]()
    inputs = model_inputs("llama")
    cfg = dict(r=4, target_modules=TARGETS["llama"], init_weights=False)
    ref = get_neat_model(copy.deepcopy(base), NeatConfig(**cfg))
    low = get_neat_model(copy.deepcopy(base).to(torch.bfloat16), NeatConfig(**cfg))
    low.load_state_dict(
        {k: v.to(torch.bfloat16) if "peanut_" not in k else v for k, v in ref.state_dict().items()}
    )
    adapter_dtypes = {p.dtype for n, p in low.named_parameters() if "peanut_" in n}
    assert adapter_dtypes == {torch.float32}
    out = logits(low, inputs).float()
    assert rel_err(out, logits(ref, inputs)) < 0.05
    out.sum().backward()
    assert all(
        p.grad is not None and p.grad.dtype == torch.float32
        for n, p in low.named_parameters()
        if "peanut_A" in n
    )


class _DtypeRecorder(torch.utils._python_dispatch.TorchDispatchMode):
    """Records (op, shape, dtype) of every tensor an aten op produces."""

    def __init__(self):
        super().__init__()
        self.outputs = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.outputs.append((func.__name__, tuple(t.shape), t.dtype))
        return out


def test_precision_policy_h_in_the_adapter_dtype_tokens_in_theirs():
    """bf16 tokens through an fp32 adapter on a bf16 base: A W0 runs in W0's bf16 (no dense fp32
    copy of W0), the rest of the token-independent H^T = f(W0) in the adapter's fp32, and every
    per-token product (x H, then B) in the tokens' bf16, as LoRA does."""
    in_features, out_features, r = 48, 80, 4
    base = torch.nn.Linear(in_features, out_features).to(torch.bfloat16).requires_grad_(False)
    layer = NeatLinear(base, "default", r=r, config=PeanutConfig(r=r, depth=1, init_weights=False))
    for name, param in layer.named_parameters():
        if "peanut_" in name:
            param.data = param.data.float()  # as get_neat_model keeps adapters (PEFT's autocast)
    assert {p.dtype for n, p in layer.named_parameters() if "peanut_" in n} == {torch.float32}
    x = torch.randn(2, 3, in_features, dtype=torch.bfloat16)
    recorder = _DtypeRecorder()
    with recorder, torch.no_grad():
        y = layer(x)
    assert y.dtype == torch.bfloat16
    outputs = recorder.outputs
    tokens = [i for i, (_, shape, _) in enumerate(outputs) if shape[:2] == (2, 3) or shape[:1] == (6,)]
    assert tokens and {outputs[i][2] for i in tokens} == {torch.bfloat16}, outputs
    x_h = next(i for i in tokens if outputs[i][1][-1] == r)  # the first per-token product, x H
    hidden = [o for o in outputs[:x_h] if o[1] == (r, in_features) and not o[0].startswith("_to_copy")]
    assert hidden and hidden[-1][2] == torch.float32, hidden  # H^T, scaled, as the tokens meet it
    assert not [o for o in outputs if set(o[1]) == {in_features, out_features} and o[2] == torch.float32]
    # and the result is that computation: base(x) + (x H)B^T with H, B rounded to bf16 once
    with torch.no_grad():
        h_t = layer._hidden_t("default", base.weight) * layer.scaling["default"]
        b = layer.peanut_B["default"].weight
        expected = base(x) + torch.nn.functional.linear(
            torch.nn.functional.linear(x, h_t.to(torch.bfloat16)), b.to(torch.bfloat16)
        )
    assert torch.equal(y, expected)


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_default_targets_and_parameter_accounting(kind):
    base = BUILDERS[kind]()
    targets = default_target_modules(base)
    assert targets == TARGETS[kind]
    modules = list_linear_modules(base)
    counts = count_adapter_params(modules, targets, r=4, depth=2)
    head_before = _trainable(base)  # sanity: base is fully trainable
    assert head_before > counts["neat"]
    model = get_neat_model(base, NeatConfig(r=4, depth=2, target_modules=targets))
    adapter_params = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "peanut_" in n)
    assert adapter_params == counts["neat"]
    lora = get_peft_model(BUILDERS[kind](), __import__("peft").LoraConfig(r=4, target_modules=targets))
    assert _trainable(lora) == counts["lora"]


def test_bert_loads_into_sequence_classification_roundtrip(tmp_path):
    """A saved tiny BERT folder reloads with a fresh head (the path the engine uses)."""
    BUILDERS["bert"]().save_pretrained(tmp_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        tmp_path, num_labels=3, ignore_mismatched_sizes=True
    )
    wrapped = get_neat_model(model, NeatConfig(r=2, task_type="SEQ_CLS"))
    assert isinstance(wrapped, PeftModel)


class _ShapeRecorder(__import__("torch").utils._python_dispatch.TorchDispatchMode):
    """Records the shape of every tensor produced by an aten op (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {a.untyped_storage().data_ptr() for a in args if isinstance(a, torch.Tensor)}
        for t in out if isinstance(out, (tuple, list)) else [out]:
            # views and detaches share an input's storage: they allocate nothing
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                self.shapes.append((func.__name__, tuple(t.shape)))
        return out


def _dense_temporaries(layer_cls, dtype) -> list[tuple]:
    in_features, out_features = 48, 80
    base = torch.nn.Linear(in_features, out_features).to(dtype).requires_grad_(False)  # frozen, as in PEFT
    cfg = PeanutConfig(r=4, depth=1, init_weights=False)
    layer = layer_cls(base, "default", r=4, config=cfg)
    x = torch.randn(2, 3, in_features, dtype=dtype)
    recorder = _ShapeRecorder()
    with recorder:
        layer(x).float().sum().backward()
    return [(op, s) for op, s in recorder.shapes if len(s) == 2 and set(s) == {in_features, out_features}]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_training_step_builds_no_dense_update(dtype):
    from peft.tuners.peanut.layer import Linear as StockLinear

    assert _dense_temporaries(NeatLinear, dtype) == []
    # the check is able to fail: stock PEANuT materialises dW every forward
    assert _dense_temporaries(StockLinear, dtype)


# -- the calibrated initialisation (init_weights="calibrated") ----------------------------------
def _hidden_rms_times_sqrt_in(model) -> list[float]:
    values = []
    for module in model.modules():
        if isinstance(module, NeatLinear):
            with torch.no_grad():
                h_t = module._hidden_t("default", module._w0(module.get_base_layer().weight))
            values.append(h_t.pow(2).mean().sqrt().item() * module.in_features**0.5)
    return values


@pytest.mark.parametrize("kind", list(BUILDERS))
@pytest.mark.parametrize("depth", [0, 1])
@pytest.mark.parametrize("act_fn", ["relu", "gelu", "tanh"])
def test_calibrated_init_gives_every_layer_the_target_hidden_rms(kind, depth, act_fn):
    config = NeatConfig(
        r=4, depth=depth, act_fn=act_fn, target_modules=TARGETS[kind], init_weights="calibrated"
    )
    model = get_neat_model(BUILDERS[kind](), config)
    values = _hidden_rms_times_sqrt_in(model)
    assert values and all(abs(v - 1.0) < 0.01 for v in values), values
    inputs = model_inputs(kind)
    assert torch.equal(logits(model, inputs), logits(BUILDERS[kind](), inputs))  # B is zero: a no-op


def test_calibrated_hidden_scale_does_not_depend_on_w0_scale():
    def scaled_bert(factor):
        base = BUILDERS["bert"]()
        with torch.no_grad():
            for name, param in base.named_parameters():
                if name.endswith(("query.weight", "value.weight")):
                    param.mul_(factor)
        return base

    stock, calibrated = [], []
    for factor in (0.1, 10.0):
        torch.manual_seed(0)
        cfg = dict(r=4, target_modules=["query", "value"])
        stock.append(_hidden_rms_times_sqrt_in(get_neat_model(scaled_bert(factor), NeatConfig(**cfg))))
        torch.manual_seed(0)
        model = get_neat_model(scaled_bert(factor), NeatConfig(**cfg, init_weights="calibrated"))
        calibrated.append(_hidden_rms_times_sqrt_in(model))
    assert stock[1][0] / stock[0][0] == pytest.approx(100.0, rel=1e-3)  # Kaiming A: H follows W0
    assert calibrated[0] == pytest.approx(calibrated[1], rel=1e-3)


def test_calibrated_init_leaves_no_dead_relu_unit():
    model = get_neat_model(
        BUILDERS["llama"](), NeatConfig(r=8, target_modules=["q_proj", "v_proj"], init_weights="calibrated")
    )
    for module in model.modules():
        if isinstance(module, NeatLinear):
            pre = module.peanut_A["default"].weight @ module.get_base_layer().weight
            assert (pre > 0).any(dim=1).all()  # every hidden unit is alive on some input column
            assert ((pre > 0).float().mean(dim=1) >= 0.5).all()  # the sign with more live entries


def test_stock_peft_loads_a_calibrated_adapter_with_identical_outputs(tmp_path):
    import json

    config = NeatConfig(r=4, depth=1, target_modules=TARGETS["bert"], init_weights="calibrated")
    ours = get_neat_model(BUILDERS["bert"](), config)
    optimizer = torch.optim.AdamW([p for p in ours.parameters() if p.requires_grad], lr=1e-2)
    inputs = model_inputs("bert")
    for _ in range(3):  # B moves away from zero, A from its calibrated start
        optimizer.zero_grad()
        logits(ours, inputs).pow(2).sum().backward()
        optimizer.step()
    expected = logits(ours, inputs)
    ours.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["init_weights"] == "calibrated"
    plain = PeftModel.from_pretrained(BUILDERS["bert"](), tmp_path)  # stock PEANuT layers
    assert not any(isinstance(m, NeatLinear) for m in plain.modules())
    assert rel_err(logits(plain, inputs), expected) <= 1e-5
    again = load_neat_model(BUILDERS["bert"](), tmp_path)
    assert rel_err(logits(again, inputs), expected) <= 1e-5
