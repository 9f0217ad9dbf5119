"""The project's plumbing: requirements, scripts, the CI entry point and the README agree."""

import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_COMMAND = "python3 -m venv .venv && . .venv/bin/activate && bash scripts/test.sh"
SCRIPTS = ["scripts/install.sh", "scripts/test.sh", ".ci/run"]


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt", "requirements-assets.txt"])
def test_requirements_file_exists(name):
    assert (ROOT / name).is_file()


def test_torch_is_pinned():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "torch==2.13.0" in lines


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_valid_bash(script):
    path = ROOT / script
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert path.read_text().startswith("#!/usr/bin/env bash\n")


def test_readme_and_ci_run_the_same_test_command():
    readme = (ROOT / "README.md").read_text()
    assert TEST_COMMAND in readme.splitlines(), "README must show the test command on a line of its own"
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert TEST_COMMAND in ci_lines


def test_pyproject_registers_markers():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    markers = " ".join(config["tool"]["pytest"]["ini_options"]["markers"])
    for marker in ("slow:", "browser:", "scaleout:"):
        assert marker in markers


def test_dockerfile_uses_install_script():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "bash scripts/install.sh" in dockerfile
    assert "EXPOSE 7860" in dockerfile
