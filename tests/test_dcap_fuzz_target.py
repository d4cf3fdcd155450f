"""The atheris target fuzz/dcap_quote.py: a bounded run in the suite (long runs: make fuzz-dcap)
and its seeds replayed through the same harness without atheris."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "fuzz" / "dcap_quote.py"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dcap_quote_fuzz", TARGET)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seeds_replay_cleanly(vectors: Path, tmp_path: Path) -> None:
    """Every seed of every mode goes through its parser without an untyped exception."""
    harness = _harness()
    seeds = harness.load_seeds(vectors)
    harness.write_corpus(seeds, tmp_path)
    inputs = sorted(tmp_path.iterdir())
    assert len(inputs) == len(seeds) * len(harness.SEEDERS)
    for path in inputs:
        harness.run_one(path.read_bytes(), seeds)


def test_bounded_atheris_run(vectors: Path, tmp_path: Path) -> None:
    """libFuzzer for a few seconds over the real seeds: no crash, no multi-line error."""
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (pip install atheris)")
    env = {**os.environ, "ELSEWHERE_VECTORS": str(vectors)}
    run = subprocess.run(
        [sys.executable, str(TARGET), "-max_total_time=8", "-timeout=10",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-"))]
    assert run.returncode == 0 and not crashes, (crashes, run.stderr[-3000:])
    assert "Done" in run.stderr and "stat::number_of_executed_units" in run.stderr
