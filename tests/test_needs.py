"""A test that lacks a service, browser or package skips locally and fails in CI (CI=true)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.needs import missing, require_module

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_missing_skips_locally_and_fails_in_ci(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no Redis"):
        missing("no Redis here")
    with pytest.raises(outcome, match="no_such_module_for_neat_tests"):
        require_module("no_such_module_for_neat_tests")
    assert require_module("json").dumps([1]) == "[1]"


@pytest.mark.parametrize("ci, code, said", [("", 0, "1 skipped"), ("true", 1, "CI=true")])
def test_a_missing_service_url_skips_or_fails_the_real_fixture(ci, code, said):
    env = {k: v for k, v in os.environ.items() if k not in ("NEAT_TEST_REDIS_URL", "CI")}
    env["CI"] = ci
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_services.py::test_redis_answers",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == code, result.stdout[-2000:]
    assert said in result.stdout
