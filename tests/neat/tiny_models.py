"""Tiny randomly initialised transformers, built from configs, for fast CPU tests."""

from __future__ import annotations

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    ViTConfig,
    ViTForImageClassification,
)


def tiny_bert(seed: int = 0, num_labels: int = 2):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=64,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(config).eval()


def tiny_llama(seed: int = 0):
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()


def tiny_gpt2(seed: int = 0):
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=128, n_embd=32, n_layer=2, n_head=2, n_positions=64)
    return GPT2LMHeadModel(config).eval()


def tiny_vit(seed: int = 0, num_labels: int = 3):
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=16,
        patch_size=4,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        num_labels=num_labels,
    )
    return ViTForImageClassification(config).eval()


def model_inputs(kind: str, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    if kind == "vit":
        return {"pixel_values": torch.randn(2, 3, 16, 16, generator=g)}
    vocab = 120 if kind == "bert" else 128
    return {"input_ids": torch.randint(0, vocab, (2, 10), generator=g)}


BUILDERS = {"bert": tiny_bert, "llama": tiny_llama, "gpt2": tiny_gpt2, "vit": tiny_vit}
TARGETS = {
    "bert": ["query", "value"],
    "llama": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
    "vit": ["q_proj", "v_proj"],
}
