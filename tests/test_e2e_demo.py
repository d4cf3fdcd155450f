"""`elsewhere demo` and the operator CLI, run as a user would."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from control_helpers import DEMO_POLICY, control_plane, greeter_wasm, settled, wait_for
from elsewhere.cli import main
from elsewhere.crypto.keyfile import TenantKey


def test_demo_refuses_milan_and_nil_and_releases_to_genoa(
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    assert main(["demo"]) == 0
    assert time.monotonic() - started < 30  # the bound for the whole job
    out = capsys.readouterr().out
    assert "NO HARDWARE PROTECTION" in out
    assert "milan  REFUSED because platforms.refuse" in out
    assert "nil    REFUSED because tee.accept" in out
    assert "genoa  ACCEPTED: secret released" in out
    assert "risk budget: 5,000.00 USD per year" in out
    # emulated genoa is priced as unprotected: 1.0/year plus the record's bound q ≤ 0.95
    shown = re.search(
        r"genoa: likelihood ([0-9.]+)/year × impact 500\.00 USD = risk ([0-9.,]+) USD per year "
        r"\(budget 5,000\.00 USD per year",
        out,
    )
    assert shown, out
    likelihood, risk = float(shown[1]), float(shown[2].replace(",", ""))
    assert 1.0 < likelihood <= 1.95 and abs(risk - likelihood * 500) < 1.0
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


def test_tenant_cli_against_a_live_control_plane(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path) as env:
        env.agent("genoa")
        tenant = env.tenant()
        api = ["--control", env.url, "--token", tenant.http.headers["Authorization"][7:]]
        wasm = tmp_path / "greeter.wasm"
        wasm.write_bytes(greeter_wasm())
        policy = tmp_path / "policy.toml"
        policy.write_text(DEMO_POLICY)
        secret = tmp_path / "key.bin"
        secret.write_bytes(b"cli-secret")
        key = tmp_path / "me.key"
        TenantKey.create(key)
        pub = tmp_path / "me.pub"
        TenantKey.load(key).save_public(pub)
        assert main(["workload", "upload", str(wasm), *api]) == 0
        digest = capsys.readouterr().out.split("sha384:")[1].split()[0]
        assert main(["secret", "put", "greeting-key", "--file", str(secret), *api]) == 0
        assert main(["set-policy", str(policy), *api]) == 0
        assert "policy version 1" in capsys.readouterr().out
        deploy = ["deploy", digest, "--secret", "greeting-key", "--arg", "greeting-key"]
        assert main([*deploy, "--result-key", str(pub), "--env", "GREETING=Hey", *api]) == 0
        deployment = capsys.readouterr().out.split()[1].rstrip(":")
        wait_for(settled(tenant, deployment))
        assert main(["results", deployment, "--key", str(key), *api]) == 0
        shown = capsys.readouterr().out
        assert "completed on genoa" in shown
        assert "stdout: Hey, stranger! I hold secret greeting-key: 10 bytes" in shown
        assert "workload from host: none: emulated" in shown
        assert "affirming (release)" in shown and "[ledger #" in shown
        assert main(["results", deployment, *api]) == 0  # without the key: still sealed
        assert "sealed to your key" in capsys.readouterr().out
        assert main(["deploy", "nope", *api]) == 2
        assert "no such workload" in capsys.readouterr().err
