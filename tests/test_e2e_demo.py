"""`elsewhere demo` and the operator CLI, run as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest

from elsewhere.cli import main


def test_demo_refuses_milan_and_nil_and_releases_to_genoa(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "NO HARDWARE PROTECTION" in out
    assert "milan  REFUSED because platforms.refuse" in out
    assert "nil    REFUSED because tee.accept" in out
    assert "genoa  ACCEPTED: secret released" in out
    assert "I hold secret greeting-key" in out
    assert "inclusion proof verified" in out
    assert "secret bytes in the database file: none" in out


def test_tenant_create_prints_the_token_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert main(["tenant", "create", "acme", *data]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = next(line.split()[1] for line in lines if line.startswith("token:"))
    assert token.startswith("ewt_")
    assert main(["tenant", "list", *data]) == 0
    listing = capsys.readouterr().out
    assert "acme" in listing and token not in listing
    assert main(["tenant", "create", "acme", *data]) == 2  # exists: one line, exit 2
    assert "exists" in capsys.readouterr().err
    assert main(["host-token", "create", *data]) == 0
    assert "ewh_" in capsys.readouterr().out
