"""The optimiser's parameter groups: adapter, task head, and NEAT's A at its own scale."""

from __future__ import annotations

import pytest
import torch

from neat.engine.attach import attach_method, parameter_groups
from neat.engine.spec import example_spec
from tests.neat.tiny_models import BUILDERS


def _lr_by_name(model, groups) -> dict[str, float]:
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    return {name: lr_of[id(p)] for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_neat_a_trains_at_its_scale_and_the_rest_at_their_rates(scale):
    spec = example_spec("classification", "neat")
    spec.method.neat_a_lr_scale = scale
    spec.training.learning_rate, spec.training.head_learning_rate = 4e-3, 2e-2
    model = attach_method(BUILDERS["bert"](), spec, head_names=["classifier"])
    lrs = _lr_by_name(model, parameter_groups(model, spec))
    a = {n: v for n, v in lrs.items() if ".peanut_A." in n}
    b = {n: v for n, v in lrs.items() if ".peanut_B." in n}
    head = {n: v for n, v in lrs.items() if "modules_to_save" in n}
    assert a and b and head
    assert all(v == pytest.approx(4e-3 * scale) for v in a.values())
    assert set(b.values()) == {4e-3} and set(head.values()) == {2e-2}
    # every trainable parameter is in exactly one group
    groups = parameter_groups(model, spec)
    assert sum(len(g["params"]) for g in groups) == len(lrs)


def test_the_scale_is_neat_only_and_validated():
    spec = example_spec("classification", "lora")
    spec.method.neat_a_lr_scale = 0.1  # no A of NEAT's in a LoRA model: no effect
    model = attach_method(BUILDERS["bert"](), spec, head_names=["classifier"])
    lrs = _lr_by_name(model, parameter_groups(model, spec))
    assert {v for n, v in lrs.items() if "lora_A" in n} == {spec.training.learning_rate}
    for bad in (0, -1.0, 11.0, "fast"):
        spec = example_spec("classification", "neat")
        spec.method.neat_a_lr_scale = bad
        assert "method.neat_a_lr_scale" in {e.field for e in spec.check()}, bad


def test_a_slower_a_moves_less_in_one_real_step():
    torch.manual_seed(0)
    moved = {}
    for scale in (1.0, 0.1):
        spec = example_spec("classification", "neat")
        spec.method.neat_a_lr_scale = scale
        model = attach_method(BUILDERS["bert"](), spec, head_names=["classifier"])
        named = dict(model.named_parameters())
        a_name = next(n for n in named if ".peanut_A." in n)
        b_name = next(n for n in named if ".peanut_B." in n)
        before = {n: named[n].detach().clone() for n in (a_name, b_name)}
        optimizer = torch.optim.AdamW(parameter_groups(model, spec))
        x = torch.randint(0, 100, (4, 12))
        loss = model(input_ids=x, labels=torch.tensor([0, 1, 0, 1])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        # B starts at zero, so A gets no gradient on the first step; a second step moves both
        model(input_ids=x, labels=torch.tensor([0, 1, 0, 1])).loss.backward()
        optimizer.step()
        moved[scale] = {n: (named[n] - before[n]).abs().max().item() for n in before}
    assert moved[0.1][a_name] < 0.2 * moved[1.0][a_name]
    assert moved[0.1][b_name] > 0.5 * moved[1.0][b_name]
