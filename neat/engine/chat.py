"""Both answers at once: the base model and the adapted one decode side by side, token by token.

One model serves both (the adapter switched off for the base answer, see
`inference.Predictor`), and switching it off changes the model for every caller, so the two
answers cannot run as two parallel `generate()` calls. Instead each keeps its own key/value
cache and they take turns, one token each, every forward pass under the predictor's lock:
both answers grow together, and other sessions can use the model between two tokens.

Each answer is sampled with its own generator seeded alike, so with the same conversation the
two differ only by the adapter. An answer ends at an end-of-sequence token ("eos") or at
`max_new_tokens` ("limit": it was cut, and the Playground says so).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

RUNNING, EOS, LIMIT = "running", "eos", "limit"


@dataclass
class Answer:
    """One side's answer so far: its text and whether (and why) it ended."""

    text: str = ""
    state: str = RUNNING
    tokens: int = 0
    prompt_tokens: int = 0  # the conversation it answers, as the model read it


@dataclass
class _Decoder:
    use_adapter: bool
    ids: torch.Tensor  # the prompt, then each new token
    generator: torch.Generator
    past: object = None
    new: list[int] = field(default_factory=list)
    answer: Answer = field(default_factory=Answer)


def eos_ids(model, tokenizer) -> set[int]:
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    found = set(ids if isinstance(ids, (list, tuple)) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(int(tokenizer.eos_token_id))
    return found


def fit_conversation(predictor, messages: list[dict], max_new_tokens: int) -> torch.Tensor:
    """The conversation's prompt ids; the oldest turns are dropped while it would not leave
    room for the answer within the model's positions."""
    limit = getattr(getattr(predictor.model, "config", None), "max_position_embeddings", None)

    def encode(turns):
        return predictor.processor(predictor.chat_prompt(turns), return_tensors="pt")["input_ids"]

    messages = list(messages)
    while len(messages) > 1:
        ids = encode(messages)
        if not limit or ids.shape[1] + max_new_tokens <= limit:
            return ids
        messages = messages[2:]  # the oldest question and its answer
    ids = encode(messages)
    room = limit - max_new_tokens if limit else 0
    return ids[:, -room:] if room > 0 and ids.shape[1] > room else ids


def side_by_side(
    predictor,
    base_messages: list[dict],
    adapted_messages: list[dict],
    max_new_tokens: int = 128,
    temperature: float = 0.7,
    top_p: float = 0.9,
    seed: int = 0,
) -> Iterator[tuple[Answer, Answer]]:
    """Yield (base answer, adapted answer) after every token of either, until both have ended.

    Each list of messages ({"role": "user"|"assistant", "content"}) is that side's own
    conversation, its last message the new user turn; its answers so far are that side's own.
    """
    predictor._require("causal-lm", "chat_stream")
    tokenizer = predictor.processor
    device = predictor.device
    warp = LogitsProcessorList()
    if temperature > 0:
        warp.extend([TemperatureLogitsWarper(float(temperature)), TopPLogitsWarper(float(top_p))])
    decoders = []
    for use_adapter, messages in ((False, base_messages), (True, adapted_messages)):
        ids = fit_conversation(predictor, messages, int(max_new_tokens)).to(device)
        generator = torch.Generator(device=device).manual_seed(int(seed or 0))
        decoders.append(_Decoder(use_adapter, ids, generator, answer=Answer(prompt_tokens=int(ids.shape[1]))))
    stop = eos_ids(predictor.model, tokenizer)
    while any(d.answer.state == RUNNING for d in decoders):
        for d in decoders:
            if d.answer.state != RUNNING:
                continue
            token = _next_token(predictor, d, warp, temperature)
            if token in stop:
                d.answer.state = EOS
            else:
                d.new.append(token)
                d.answer.tokens = len(d.new)
                d.answer.text = tokenizer.decode(d.new, skip_special_tokens=True)
                if len(d.new) >= max_new_tokens:
                    d.answer.state = LIMIT
            yield decoders[0].answer, decoders[1].answer


def _next_token(predictor, d: _Decoder, warp: LogitsProcessorList, temperature: float) -> int:
    fresh = d.past is None
    inputs = d.ids if fresh else d.ids[:, -1:]
    mask = torch.ones_like(d.ids)
    with predictor._using(d.use_adapter) as model, torch.inference_mode():
        out = model(input_ids=inputs, attention_mask=mask, past_key_values=d.past, use_cache=True)
    d.past = out.past_key_values
    logits = out.logits[:, -1, :].float()
    if temperature > 0:
        probs = torch.softmax(warp(d.ids, logits), dim=-1)
        token = int(torch.multinomial(probs, 1, generator=d.generator)[0, 0])
    else:
        token = int(torch.argmax(logits, dim=-1)[0])
    d.ids = torch.cat([d.ids, torch.tensor([[token]], device=d.ids.device)], dim=1)
    return token
