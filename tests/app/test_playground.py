"""Playground helpers: side-by-side streaming with one seed, loading only finished jobs, staging zips."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from app import backend, caches
from app.tabs import playground


class FakeChat:
    """Answers like Predictor.chat_side_by_side: both sides grow one token at a time, together."""

    task = "causal-lm"
    labels = None

    def __init__(self, limit_at: int | None = None):
        self.calls = []
        self.limit_at = limit_at

    def chat_side_by_side(self, base_messages, adapted_messages, **settings):
        from neat.engine.chat import EOS, LIMIT, Answer

        self.calls.append((base_messages, adapted_messages, settings))
        base, adapted = Answer(), Answer()
        for i in range(3):
            for answer, word in ((base, "base"), (adapted, "tuned")):
                answer.text += f"{word}{i} "
                answer.tokens = i + 1
                if i == 2:
                    answer.state = LIMIT if self.limit_at == 3 else EOS
                yield base, adapted


def test_side_by_side_streams_both_answers_at_once_with_the_same_settings():
    fake = FakeChat()
    frames = list(
        playground.side_by_side(fake, "hi", [], [], max_new_tokens=16, temperature=0.5, top_p=0.8, seed=3)
    )
    shown_base, shown_adapted, _, _, _ = frames[1]
    # the second frame already holds a token of each answer: they stream together
    assert shown_base[-1] == {"role": "assistant", "content": "base0 "}
    assert shown_adapted[-1] == {"role": "assistant", "content": "tuned0 "}
    assert len(frames) == 6  # every token shows up as it comes
    (b1, a1, s1) = fake.calls[0]
    assert b1 == a1 == [{"role": "user", "content": "hi"}]
    assert s1 == {"max_new_tokens": 16, "temperature": 0.5, "top_p": 0.8, "seed": 3}


def test_a_follow_up_carries_each_sides_own_history_and_the_limit_is_marked():
    fake = FakeChat(limit_at=3)
    *_, (shown_base, shown_adapted, base_hist, adapted_hist, line) = playground.side_by_side(
        fake, "hi", [], []
    )
    assert playground.LIMIT_MARK in shown_base[-1]["content"] and "3 tokens" in shown_adapted[-1]["content"]
    assert playground.LIMIT_MARK not in base_hist[-1]["content"]  # the marker is not fed back
    assert line.startswith("Turn 1:")
    list(playground.side_by_side(fake, "and then?", base_hist, adapted_hist))
    base_msgs, adapted_msgs, _ = fake.calls[-1]
    assert [m["role"] for m in base_msgs] == ["user", "assistant", "user"]
    assert (
        base_msgs[1]["content"] == "base0 base1 base2 "
        and adapted_msgs[1]["content"] == "tuned0 tuned1 tuned2 "
    )


def test_results_name_their_job_and_the_base_head_is_a_coin_flip():
    job = {"id": 5, "name": "neat-sst", "spec": {"method": {"name": "neat"}}}
    line = playground.result_line(
        job, {"positive": 0.77, "negative": 0.23}, {"negative": 0.51, "positive": 0.49}, True
    )
    assert line.startswith("**#5 neat-sst**: positive 77%") and "coin flip" in line
    assert "freshly initialised" in playground.adapter_off_note(job, "classification")
    assert "switched off" in playground.adapter_off_note(job, "causal-lm")
    assert "coin flip" not in playground.adapter_off_note(job, "causal-lm")


def test_only_finished_jobs_load(monkeypatch):
    jobs = {
        1: {"id": 1, "status": "running", "output_dir": "/x"},
        2: {"id": 2, "status": "succeeded", "output_dir": "/runs/2", "name": "ok", "spec": {}},
    }
    monkeypatch.setattr(backend, "get_job", lambda job_id, viewer=None: jobs.get(job_id, {}))
    with pytest.raises(gr.Error, match="has not succeeded"):
        playground.load_predictor("1")
    with pytest.raises(gr.Error, match="no longer exists"):
        playground.load_predictor("9")
    with pytest.raises(gr.Error, match="Choose a finished job"):
        playground.load_predictor(None)
    loaded = []
    monkeypatch.setattr(
        caches, "PREDICTORS", caches.PredictorCache(loader=lambda d: loaded.append(d) or FakeChat())
    )
    predictor, job = playground.load_predictor("2")
    assert job["id"] == 2 and isinstance(predictor, FakeChat) and loaded == ["/runs/2"]
    assert "causal-lm" in playground.describe(predictor, job)


def test_stage_for_download_names_the_job(neat_home, tmp_path):
    built = tmp_path / "exports" / "adapter.zip"
    built.parent.mkdir()
    built.write_bytes(b"PK\x03\x04")
    staged = playground.stage_for_download(built, 7)
    assert staged.endswith("job7-adapter.zip") and str(neat_home / "exports") in staged
    other = playground.stage_for_download(built, 8)  # another job's folder cannot be guessed from it
    assert Path(other).parent != Path(staged).parent and len(Path(staged).parent.name) == 24
