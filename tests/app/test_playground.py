"""Playground helpers: side-by-side streaming with one seed, loading only finished jobs, staging zips."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from app import backend, caches
from app.tabs import playground


class FakeChat:
    task = "causal-lm"
    labels = None

    def __init__(self):
        self.calls = []

    def chat_stream(self, prompt, use_adapter, **settings):
        self.calls.append((prompt, use_adapter, settings))
        word = "tuned" if use_adapter else "base"
        text = ""
        for i in range(3):
            text += f"{word}{i} "
            yield text


def test_side_by_side_streams_both_answers_with_the_same_settings():
    fake = FakeChat()
    frames = list(playground.side_by_side(fake, "hi", max_new_tokens=16, temperature=0.5, top_p=0.8, seed=3))
    assert frames[0] == ("base0 ", "")
    assert frames[2] == ("base0 base1 base2 ", "")
    assert frames[-1] == ("base0 base1 base2 ", "tuned0 tuned1 tuned2 ")
    assert len(frames) == 6  # every token shows up as it comes
    (p1, a1, s1), (p2, a2, s2) = fake.calls
    assert (p1, a1, p2, a2) == ("hi", False, "hi", True)
    assert s1 == s2 == {"max_new_tokens": 16, "temperature": 0.5, "top_p": 0.8, "seed": 3}


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
