from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from elsewhere.cli.inputs import read_input
from elsewhere.errors import InputError


def test_reads_files_and_stdin_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abcd")
    assert read_input(path, "thing", limit=4) == b"abcd"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin")))
    assert read_input("-", "secret") == b"from stdin"


def test_refuses_missing_and_oversized_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^thing: .*missing: No such file"):
        read_input(tmp_path / "missing", "thing")
    big = tmp_path / "big"
    big.write_bytes(b"x" * 5)
    with pytest.raises(InputError, match="larger than 4 bytes"):
        read_input(big, "thing", limit=4)
