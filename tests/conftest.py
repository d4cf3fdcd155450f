"""Shared fixtures. Real vectors live outside the repository: ELSEWHERE_VECTORS, default
../shared/vectors beside the repository root. Tests that need them skip when absent."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from waits import start_clock

# Timing-based deadlines make property tests flaky on a loaded 2-core CI machine; the tests
# bound their own work instead. CI runs derandomised so a failure reproduces.
settings.register_profile(
    "elsewhere",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("elsewhere")

REPO_ROOT = Path(__file__).resolve().parent.parent


def vectors_path() -> Path:
    return Path(os.environ.get("ELSEWHERE_VECTORS", REPO_ROOT.parent / "shared" / "vectors"))


@pytest.fixture(autouse=True)
def outer_timeout() -> None:
    """Every test's one outer timeout starts with the test (tests/waits.py)."""
    start_clock()


@pytest.fixture(autouse=True)
def console_clients() -> Iterator[None]:
    """The console sessions a test opened (tests/console_support.py), closed after it."""
    yield
    support = sys.modules.get("console_support")  # imported only by the console's tests
    if support is not None:
        support.close_clients()


@pytest.fixture(scope="session")
def vectors() -> Path:
    path = vectors_path()
    if not (path / "expected.json").is_file():
        pytest.skip(f"test vectors not found at {path} (set ELSEWHERE_VECTORS)")
    return path


@pytest.fixture(scope="session")
def manifest(vectors: Path) -> dict[str, dict[str, Any]]:
    entries = json.loads((vectors / "expected.json").read_text())
    return {entry["id"]: entry for entry in entries}
