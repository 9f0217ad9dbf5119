"""Out of memory: a job retries once with half the micro-batch and twice the accumulation.

A real worker trains a real tiny model; NEAT_SIMULATE_OOM_ABOVE_BATCH makes a training step
raise torch.OutOfMemoryError whenever its micro-batch is larger than the limit, as a GPU would
for a batch that does not fit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobs import api
from jobs.models import END_STATES
from tests.jobs.conftest import wait_until

pytestmark = [pytest.mark.slow]


@pytest.mark.timeout(240)
def test_retry_with_half_the_micro_batch_then_fail_with_the_reason(workers, make_spec):
    fits = api.submit(make_spec("fits-when-halved", max_steps=4, batch_size=4))
    too_big = api.submit(make_spec("too-big", max_steps=4, batch_size=8))
    workers.start(env={"NEAT_SIMULATE_OOM_ABOVE_BATCH": "2"})
    ended = lambda: all(api.get_job(i)["status"] in END_STATES for i in (fits, too_big))  # noqa: E731
    wait_until(ended, 200, "both jobs to end", workers)

    job = api.get_job(fits)
    assert job["status"] == "succeeded", job["error"]
    texts = [e["text"] for e in api.get_logs(fits, tail=None)]
    assert any(
        "out of memory" in t and "retrying once with micro-batch 2 x 2 accumulation (effective batch 4)" in t
        for t in texts
    ), texts
    steps = [p["step"] for p in api.get_metrics(fits, split="train", name="loss")]
    assert steps == [1, 2, 3, 4]  # one curve: the failed attempt left no points behind
    ran = yaml.safe_load((Path(job["output_dir"]) / "spec.yaml").read_text())["training"]
    assert (ran["batch_size"], ran["grad_accum"]) == (2, 2)

    job = api.get_job(too_big)
    assert job["status"] == "failed"
    assert job["error"].startswith("out of memory: ")
    assert "also after retrying with micro-batch 4 x 2 accumulation (effective batch 8)" in job["error"]
