"""The coverage-guided fuzz target of the document parsers (fuzz/documents.py, #20 item 5):
its seeds reach every parser and pass it (so mutations start from valid documents), and a
bounded run under atheris finds nothing. The long run is `make fuzz`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, vectors_path
from elsewhere.errors import ParseError

TARGET = REPO_ROOT / "fuzz" / "documents.py"


def _target():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(TARGET.parent))
    try:
        import documents  # importing does not start fuzzing
    finally:
        sys.path.remove(str(TARGET.parent))
    return documents


def test_seeds_reach_every_parser_and_are_valid() -> None:
    target = _target()
    seeds = target.seeds(vectors_path())
    reached = {seed[0] % len(target.PARSERS) for seed in seeds}
    needs_vectors = {"VEK certificate", "SNP certificate table"}
    expected = {
        index for index, (name, _) in enumerate(target.PARSERS) if name not in needs_vectors
    }
    assert expected <= reached
    for seed in seeds:
        _, parse = target.PARSERS[seed[0] % len(target.PARSERS)]
        parse(seed[1:])  # a seed the parser refuses would make the fuzzer start from noise


def test_the_harness_lets_only_one_line_typed_errors_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = _target()

    def untyped(data: bytes) -> None:
        raise ValueError("untyped")

    def multi_line(data: bytes) -> None:
        error = ParseError("thing", "here", "why")
        error.args = ("a message that bypassed the one-line constructor\nsecond line",)
        raise error

    def one_line(data: bytes) -> None:
        raise ParseError("thing", "here", "why")

    monkeypatch.setattr(target, "PARSERS", (("u", untyped), ("m", multi_line), ("o", one_line)))
    with pytest.raises(ValueError):
        target.test_one_input(b"\0payload")
    with pytest.raises(AssertionError, match="multi-line"):
        target.test_one_input(b"\1payload")
    target.test_one_input(b"\2payload")


def test_bounded_run_finds_nothing(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris not installed (pip install atheris)")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(TARGET), "-max_total_time=15", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    tail = done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert "INITED" in done.stderr and "Done" in done.stderr, tail
    assert not list(tmp_path.glob("crash-*")), tail
