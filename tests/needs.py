"""What a test needs from the machine (a service, a browser, a package): skip without it on a
developer's machine, fail without it in CI (CI=true), where skipping would hide untested code."""

from __future__ import annotations

import importlib
import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> None:
    """Skip the test for want of a service, browser or package; fail it in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: what a test needs must be there)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_module(name: str):
    """`pytest.importorskip`, except that in CI a missing module fails."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"cannot import {name}: {exc}")
