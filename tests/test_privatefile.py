from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from elsewhere.errors import ConfigError
from elsewhere.privatefile import read_or_create_private, read_private, write_private


def test_written_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    write_private(path, b"one", what="test key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with pytest.raises(ConfigError, match="exists; refusing to overwrite"):
        write_private(path, b"two", what="test key")
    assert read_private(path, what="test key") == b"one"
    write_private(path, b"three", what="test key", overwrite=True)
    assert read_private(path, what="test key") == b"three"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["k"]  # no temporary left behind


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda p: None, "not found"),
        (lambda p: (p.write_bytes(b"k"), p.chmod(0o640)), "mode 0640 lets others read it"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: (p.write_bytes(b"k" * 20_000), p.chmod(0o600)), "at most 16 KiB"),
    ],
)
def test_unusable_private_files_are_refused(tmp_path: Path, prepare: object, message: str) -> None:
    path = tmp_path / "k"
    prepare(path)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message):
        read_private(path, what="test key")


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    with ThreadPoolExecutor(8) as pool:
        keys = list(
            pool.map(
                lambda _: read_or_create_private(path, lambda: os.urandom(32), what="kek"),
                range(32),
            )
        )
    assert len(set(keys)) == 1 and len(keys[0]) == 32
