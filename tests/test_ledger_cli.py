"""`elsewhere ledger` end to end: init → append → checkpoint → prove → verify offline, and a
real fork (one key, two histories) caught by `consistency` and `monitor` as a split view."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from elsewhere.cli import main

ORIGIN = "example.com/cli-test"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ELSEWHERE_HOME", str(tmp_path / "home"))
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    capsys.readouterr()
    import sys

    old = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
    try:
        code = main(list(argv))
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def _init(capsys: pytest.CaptureFixture[str], home: Path, name: str = "log.db") -> tuple[str, str]:
    url = f"sqlite:///{home / name}"
    code, out, _ = run(capsys, "ledger", "init", "--origin", ORIGIN, "--log", url)
    assert code == 0
    vkey = out.strip()
    (home / "vkey").write_text(vkey + "\n")
    return url, vkey


def test_round_trip_and_offline_verification(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    url, vkey = _init(capsys, home)
    assert vkey.startswith(ORIGIN + "+")
    code, out, _ = run(capsys, "ledger", "append", "--log", url, stdin='{"kind":"a","n":1}')
    assert (code, out) == (0, "0\n")
    lines = '{"kind":"b"}\n{"kind":"c","x":[1,2]}\n'
    assert run(capsys, "ledger", "append", "--log", url, stdin=lines)[1] == "1\n2\n"
    bundle = home / "entry.tlog-proof"
    assert run(capsys, "ledger", "prove", "2", "--log", url, "-o", str(bundle))[0] == 0
    code, out, err = run(capsys, "ledger", "verify", str(bundle), "--key", vkey)
    assert code == 0, err
    assert "entry 2 is in example.com/cli-test at size 3" in out
    assert json.loads(out.split("\n", 1)[1]) == {"kind": "c", "x": [1, 2]}
    assert run(capsys, "ledger", "verify", str(bundle), "--key", str(home / "vkey"))[0] == 0

    tampered = home / "tampered"
    tampered.write_bytes(bundle.read_bytes().replace(b"\n3\n", b"\n4\n"))
    code, out, err = run(capsys, "ledger", "verify", str(tampered), "--key", vkey)
    assert code == 1 and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "ledger", "verify", str(home / "vkey"), "--key", vkey)
    assert code == 2 and len(err.strip().splitlines()) == 1  # not a bundle at all
    code, _, err = run(capsys, "ledger", "verify", str(bundle), "--key", "nonsense+key")
    assert code == 2
    assert run(capsys, "ledger", "audit", "--log", url)[0] == 0


def test_fork_is_reported_as_split_view(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    url, vkey = _init(capsys, home)
    run(capsys, "ledger", "append", "--log", url, stdin='[{"n":1},{"n":2},{"n":3}]')
    old = home / "old.checkpoint"
    run(capsys, "ledger", "checkpoint", "--log", url, "-o", str(old))
    state = home / "monitor.json"
    code, out, _ = run(
        capsys, "ledger", "monitor", "--log", url, "--key", vkey, "--state", str(state)
    )
    assert code == 0 and out.startswith("first:")

    # A dishonest operator copies the log and grows two different histories with one key.
    # SQLite's backup API: the file alone may lack what is still in its write-ahead log.
    with sqlite3.connect(home / "log.db") as source, sqlite3.connect(home / "fork.db") as copy:
        source.backup(copy)
    fork = f"sqlite:///{home / 'fork.db'}"
    run(capsys, "ledger", "append", "--log", url, stdin='{"n":4,"truth":"A"}')
    run(capsys, "ledger", "append", "--log", fork, stdin='{"n":4,"truth":"B"}')
    honest, forked = home / "honest.checkpoint", home / "forked.checkpoint"
    run(capsys, "ledger", "checkpoint", "--log", url, "-o", str(honest))
    run(capsys, "ledger", "checkpoint", "--log", fork, "-o", str(forked))

    code, out, _ = run(
        capsys, "ledger", "consistency", str(old), str(honest), "--key", vkey, "--log", url
    )
    assert code == 0 and out.startswith("consistent")
    code, out, err = run(capsys, "ledger", "consistency", str(honest), str(forked), "--key", vkey)
    assert code == 1 and "SPLIT VIEW" in out and "different root" in out
    assert honest.read_text() in out and forked.read_text() in out

    code, out, _ = run(
        capsys, "ledger", "monitor", "--log", url, "--key", vkey, "--state", str(state)
    )
    assert code == 0 and out.startswith("advanced:")
    # The forked log, asked for a proof from the size the monitor accepted, cannot give one
    # linking to what the monitor already holds.
    run(capsys, "ledger", "append", "--log", fork, stdin='{"n":5}')
    later = home / "later.checkpoint"
    run(capsys, "ledger", "checkpoint", "--log", fork, "-o", str(later))
    code, out, err = run(
        capsys, "ledger", "monitor", "--log", fork, "--key", vkey, "--state", str(state)
    )
    assert code == 1, out + err
    assert "SPLIT VIEW" in out and "SPLIT VIEW" in err
    assert honest.read_text() in out and later.read_text() in out
    saved = json.loads(state.read_text())
    assert saved["checkpoint"] == honest.read_text()  # the state keeps the earlier one
    code, out, _ = run(
        capsys,
        "ledger",
        "monitor",
        "--checkpoint",
        str(forked),
        "--key",
        vkey,
        "--state",
        str(state),
    )
    assert code == 1 and "two different root hashes for size 4" in out


def test_monitor_over_exported_tiles(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    url, vkey = _init(capsys, home)
    tiles_dir = home / "public"
    state = home / "tiles-monitor.json"
    for batch in range(3):
        entries = json.dumps([{"batch": batch, "i": i} for i in range(300)])
        run(capsys, "ledger", "append", "--log", url, stdin=entries)
        run(capsys, "ledger", "checkpoint", "--log", url)
        assert run(capsys, "ledger", "export", str(tiles_dir), "--log", url)[0] == 0
        code, _, err = run(
            capsys,
            "ledger",
            "monitor",
            "--log",
            str(tiles_dir),
            "--key",
            vkey,
            "--state",
            str(state),
        )
        assert code == 0, err
    assert (tiles_dir / "tile/0/000").is_file() and (tiles_dir / "tile/0/003.p/132").is_file()
    assert (tiles_dir / "tile/1/000.p/3").is_file()
    assert json.loads(state.read_text())["size"] == 900


def test_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    url, vkey = _init(capsys, home)
    for argv, stdin in (
        (["ledger", "append", "--log", url], "not json"),
        (["ledger", "append", "--log", url], "[1, 2]"),
        (["ledger", "prove", "99", "--log", url], ""),
        (["ledger", "verify", str(home / "missing"), "--key", vkey], ""),
        (["ledger", "monitor", "--checkpoint", str(home / "missing"), "--key", vkey], ""),
        (["ledger", "init", "--origin", "example.com/other", "--log", url], ""),
    ):
        code, _, err = run(capsys, *argv, stdin=stdin)
        assert code == 2, (argv, err)
        assert len(err.strip().splitlines()) == 1, err


def test_witness_cosigns_consistent_checkpoints(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    url, vkey = _init(capsys, home)
    code, out, _ = run(
        capsys,
        "ledger",
        "witness-key",
        "--name",
        "witness.example/w1",
        "--key-file",
        str(home / "w1.key"),
    )
    assert code == 0
    witness_vkey = out.strip()
    state, cosigned = home / "w1-state.json", home / "cosigned"
    for batch in range(2):
        run(capsys, "ledger", "append", "--log", url, stdin=f'{{"batch":{batch}}}')
        run(capsys, "ledger", "checkpoint", "--log", url)
        code, _, err = run(
            capsys,
            "ledger",
            "monitor",
            "--log",
            url,
            "--key",
            vkey,
            "--state",
            str(state),
            "--cosign-key",
            str(home / "w1.key"),
            "-o",
            str(cosigned),
        )
        assert code == 0, err
    code, out, err = run(
        capsys,
        "ledger",
        "add-cosignatures",
        str(cosigned),
        "--witness",
        witness_vkey,
        "--log",
        url,
    )
    assert code == 0, err
    assert "— witness.example/w1 " in out
    bundle = home / "b.tlog-proof"
    run(capsys, "ledger", "prove", "1", "--log", url, "-o", str(bundle))
    code, out, err = run(
        capsys,
        "ledger",
        "verify",
        str(bundle),
        "--key",
        vkey,
        "--witness",
        witness_vkey,
        "--quorum",
        "1",
    )
    assert code == 0, err
    assert "cosigned by witness.example/w1" in out
    code, _, err = run(
        capsys,
        "ledger",
        "verify",
        str(bundle),
        "--key",
        vkey,
        "--witness",
        witness_vkey,
        "--quorum",
        "2",
    )
    assert code == 1 and "needs 2" in err
    # A checkpoint the log never signed cannot be dressed up with cosignatures.
    run(capsys, "ledger", "append", "--log", url, stdin='{"batch":9}')
    code, _, err = run(
        capsys,
        "ledger",
        "add-cosignatures",
        str(home / "vkey"),
        "--witness",
        witness_vkey,
        "--log",
        url,
    )
    assert code == 2
