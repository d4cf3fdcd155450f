from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from elsewhere.cli import main
from elsewhere.crypto.hpke import X25519, seal
from elsewhere.crypto.keyfile import TenantKey, load_public_key

REPO = Path(__file__).resolve().parent.parent
GREETER = REPO / "examples" / "workloads" / "secret-greeter.wat"


@pytest.fixture
def greeter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "greeter.wasm"
    assert main(["keep", "build", str(GREETER), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"sha384:{hashlib.sha384(out.read_bytes()).hexdigest()}" in printed
    return out


def test_keep_run_shows_output_and_isolation_report(
    greeter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "key").write_bytes(b"abc")
    (tmp_path / "in").write_bytes(b"Ada\n")
    code = main(
        [
            "keep",
            "run",
            str(greeter),
            "--secret",
            f"greeting-key={tmp_path / 'key'}",
            "--env",
            "GREETING=Hi",
            "--stdin",
            str(tmp_path / "in"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.startswith("Hi, Ada! I hold secret greeting-key: 3 bytes")
    assert "workload from host: none: nil host" in captured.err
    assert "/secrets (read-only), holding greeting-key" in captured.err


def test_keep_run_json_and_failure_exit_code(
    greeter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keep", "run", str(greeter), "--json", "--fuel", "off"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["result"]["exit_code"] == 2  # no secret given: the greeter says so and exits 2
    assert doc["result"]["fuel_consumed"] is None
    assert doc["isolation"]["workload_from_host"]["protected"] is False


def test_keep_run_bad_inputs_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0\x05")
    assert main(["keep", "run", str(bad)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["keep", "run", str(tmp_path / "missing.wasm")]) == 2
    assert "missing.wasm" in capsys.readouterr().err


def test_keep_keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tenant.key"
    assert main(["keep", "keygen", str(path), "--suite", "x25519"]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    public = load_public_key(tmp_path / "tenant.key.pub")
    assert public.suite is X25519
    key = TenantKey.load(path)
    assert key.open(seal(public, b"r", info=b"i"), info=b"i") == b"r"
    assert main(["keep", "keygen", str(path)]) == 2  # never overwrites
    assert "refusing to overwrite" in capsys.readouterr().err
