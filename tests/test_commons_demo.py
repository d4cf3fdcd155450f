"""`elsewhere demo commons`, run as a user would: every step, every refusal with its reason,
under the issue's minute (#18, Deliver 2)."""

from __future__ import annotations

import time

import pytest

from elsewhere.cli import main


def test_demo_commons(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert main(["demo", "commons"]) == 0
    assert time.monotonic() - started < 60
    out = capsys.readouterr().out
    assert "NO HARDWARE PROTECTION" in out
    assert "cross-border cells released with noise" in out
    for label, reason in (
        ("too few approvals", "has not approved"),
        ("analysis differs by one byte", "report_data"),
        ("raw rows", "no raw rows"),
        ("keep on a refused CPU", "AMD:Milan"),
        ("after a veto, asking only the custodians central did not reach", "vetoed"),
        ("a result report not signed by the keep", "not signed by the keep"),
        ("ε budget ran out", "budget left 0"),
        ("the control plane's key-encryption key as a data key", "does not open"),
    ):
        line = next(x for x in out.splitlines() if f"REFUSED ({label})" in x)
        assert reason in line, line
    assert "plaintext rows in the operator's and custodians' databases" in out
    assert out.count(": verified — ") == 3 and "FAILED" not in out
    assert "every audit verified" in out
