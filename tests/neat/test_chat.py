"""Side-by-side chat: both answers decode together, a conversation carries its history, and an
answer cut at the token limit says so (tiny Llama runs from test_inference.make_run)."""

from __future__ import annotations

import pytest

from neat.engine.chat import EOS, LIMIT, RUNNING
from neat.engine.inference import Predictor
from tests.neat.test_inference import make_run


@pytest.fixture(scope="module")
def chat(tmp_path_factory) -> Predictor:
    return Predictor.load(make_run(tmp_path_factory.mktemp("chat"), "causal-lm", "neat"))


def _turn(text):
    return [{"role": "user", "content": text}]


def test_both_answers_grow_together_and_match_each_side_alone(chat):
    frames = list(chat.chat_side_by_side(_turn("hello"), _turn("hello"), max_new_tokens=6, temperature=0.0))
    base_lengths = [b.tokens for b, _ in frames]
    adapted_lengths = [a.tokens for _, a in frames]
    # they take turns: after the first two frames both answers have a token (unless one ended)
    assert frames[1][0].tokens >= 1 and frames[1][1].tokens >= 1 or frames[1][0].state == EOS
    assert base_lengths == sorted(base_lengths) and adapted_lengths == sorted(adapted_lengths)
    base, adapted = frames[-1]
    assert base.state != RUNNING and adapted.state != RUNNING
    # the same answers as each side generated alone (greedy): decoding together changes nothing
    assert (
        base.text.strip()
        == list(chat.chat_stream("hello", False, max_new_tokens=6, temperature=0.0))[-1].strip()
    )
    assert (
        adapted.text.strip()
        == list(chat.chat_stream("hello", True, max_new_tokens=6, temperature=0.0))[-1].strip()
    )
    assert base.text != adapted.text


def test_an_answer_cut_at_the_token_limit_is_marked(chat):
    base, adapted = list(chat.chat_side_by_side(_turn("hi"), _turn("hi"), max_new_tokens=3, temperature=0.0))[
        -1
    ]
    for answer in (base, adapted):
        assert answer.state in (LIMIT, EOS)
        assert answer.state == EOS or answer.tokens == 3


def test_sampling_repeats_with_the_same_seed(chat):
    settings = dict(max_new_tokens=5, temperature=0.9, top_p=0.9, seed=7)
    first = list(chat.chat_side_by_side(_turn("hey"), _turn("hey"), **settings))[-1]
    again = list(chat.chat_side_by_side(_turn("hey"), _turn("hey"), **settings))[-1]
    assert (first[0].text, first[1].text) == (again[0].text, again[1].text)


def test_the_second_turn_sees_the_first(chat):
    history = [
        {"role": "user", "content": "my name is ada"},
        {"role": "assistant", "content": "nice to meet you ada"},
        {"role": "user", "content": "what is my name"},
    ]
    prompt = chat.chat_prompt(history)
    assert "my name is ada" in prompt and "nice to meet you ada" in prompt
    assert prompt.index("nice to meet you ada") < prompt.index("what is my name")
    with_history = list(chat.chat_side_by_side(history, history, max_new_tokens=6, temperature=0.0))[-1]
    alone = list(chat.chat_side_by_side(history[-1:], history[-1:], max_new_tokens=6, temperature=0.0))[-1]
    assert (with_history[0].text, with_history[1].text) != (alone[0].text, alone[1].text)
