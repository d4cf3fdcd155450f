"""`elsewhere commons` and `elsewhere custodian` as a party uses them, against custodians
running as separate TLS processes; and the custodians on PostgreSQL (#18)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from commons_world import CUSTODIANS, EXAMPLE, PARTIES, World, world
from control_helpers import control_plane, postgres_database
from elsewhere.cli import main
from elsewhere.cli.exitcodes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from elsewhere.commons.proposals import Verb, sign_decision
from elsewhere.control.tenancy.auth import Kind
from elsewhere.privatefile import write_private


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("commons-cli")) as made:
        yield made


def _run(*argv: str) -> int:
    return main(list(argv))


def test_party_roster_dataset_propose_approve_run_open_audit(
    w: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = str(w.local.root / "roster.json")
    ca = str(w.local.ca.cert_path)
    keys = {}
    for name in PARTIES:  # the world's parties, as key files
        keys[name] = tmp_path / f"{name}.key"
        write_private(
            keys[name], json.dumps(w.local.parties[name].to_json()).encode(), what="party key"
        )
    analysis = tmp_path / "cross-border.wasm"
    analysis.write_bytes(w.module)
    sealed = {}
    for name in PARTIES:
        sealed[name] = tmp_path / f"{name}.sealed"
        assert (
            _run(
                "commons",
                "dataset",
                "add",
                str(EXAMPLE / f"{name}.csv"),
                "--id",
                f"{name}-cli",
                "--budget",
                "1",
                "--roster",
                roster,
                "--ca",
                ca,
                "--party-key",
                str(keys[name]),
                "--out",
                str(sealed[name]),
            )
            == EXIT_OK
        )
    proposal = tmp_path / "proposal.json"
    args = [
        "commons",
        "propose",
        "--id",
        "cli-1",
        "--analysis",
        str(analysis),
        "--proposer",
        "north",
        "--min-group",
        "10",
        "--epsilon",
        "0.2",
        "--out",
        str(proposal),
    ]
    for name in PARTIES:
        args += ["--dataset", f"{name}-cli"]
    assert _run(*args) == EXIT_OK
    decisions = []
    for name in ("north", "central"):
        out = tmp_path / f"{name}.approve.json"
        assert (
            _run(
                "commons",
                "approve",
                str(proposal),
                "--party-key",
                str(keys[name]),
                "--out",
                str(out),
            )
            == EXIT_OK
        )
        decisions += ["--decision", str(out)]
    data = [arg for name in PARTIES for arg in ("--data", f"{name}-cli={name}:{sealed[name]}")]
    run = [
        "commons",
        "run",
        str(proposal),
        *decisions,
        *data,
        "--analysis",
        str(analysis),
        "--attester",
        "emulated-snp",
        "--attest-dir",
        str(w.local.root.parent / "genoa"),
        "--roster",
        roster,
        "--ca",
        ca,
    ]
    capsys.readouterr()
    # south's dataset is in it and south has not approved: refused, exit 1, one line
    assert _run(*run, "--out", str(tmp_path / "r0.json")) == EXIT_REFUSED
    err = capsys.readouterr().err.strip().splitlines()
    assert "south has not approved" in err[-1]
    out = tmp_path / "south.approve.json"
    assert (
        _run(
            "commons",
            "approve",
            str(proposal),
            "--party-key",
            str(keys["south"]),
            "--out",
            str(out),
        )
        == EXIT_OK
    )
    results = tmp_path / "results.json"
    assert _run(*run, "--decision", str(out), "--out", str(results)) == EXIT_OK
    opened = tmp_path / "opened.json"
    assert (
        _run(
            "commons",
            "open",
            str(results),
            "--proposal",
            str(proposal),
            "--party-key",
            str(keys["central"]),
            "--out",
            str(opened),
        )
        == EXIT_OK
    )
    doc = json.loads(opened.read_text())
    assert doc["epsilon_spent"] == 0.2 and doc["suppressed"] > 0
    assert _run("commons", "witness", "--roster", roster, "--ca", ca) == EXIT_OK
    capsys.readouterr()
    assert _run("commons", "audit", "--party", "south", "--roster", roster, "--ca", ca) == EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(CUSTODIANS) and all(line.endswith("; ok") for line in lines)


def test_bad_inputs_exit_2_in_one_line(
    w: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "proposal.json"
    bad.write_text('{"id": "x"')
    key = tmp_path / "k.key"
    write_private(key, json.dumps(w.local.parties["north"].to_json()).encode(), what="party key")
    capsys.readouterr()
    assert _run("commons", "approve", str(bad), "--party-key", str(key)) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not JSON" in err
    bad.write_text(json.dumps({"id": "x", "analysis_digest": "zz"}))
    assert _run("commons", "approve", str(bad), "--party-key", str(key)) == EXIT_BAD_INPUT
    assert "analysis_digest" in capsys.readouterr().err
    assert (
        _run("commons", "veto", str(bad), "--party-key", str(tmp_path / "missing.key"))
        == EXIT_BAD_INPUT
    )


def test_custodian_init_and_serve_refuse_bad_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("custodian", "init", "--dir", str(tmp_path / "c"), "--name", "solo") == EXIT_OK
    public = json.loads(capsys.readouterr().out)
    assert public["witness_key"].startswith("solo.witness+")
    assert (
        _run("custodian", "init", "--dir", str(tmp_path / "c"), "--name", "solo") == EXIT_BAD_INPUT
    )
    roster = tmp_path / "roster.json"
    roster.write_text("[]")
    capsys.readouterr()
    assert (
        _run(
            "custodian",
            "serve",
            "--dir",
            str(tmp_path / "c"),
            "--roster",
            str(roster),
            "--policy",
            "x.toml",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
        )
        == EXIT_BAD_INPUT
    )
    assert "roster" in capsys.readouterr().err


def test_custodians_on_postgresql(tmp_path: Path) -> None:
    with postgres_database() as a, postgres_database() as b, postgres_database() as c:
        urls: dict[str, str | None] = dict(zip(CUSTODIANS, (a, b, c), strict=True))
        with world(tmp_path, database_urls=urls) as pg:
            datasets = pg.deposit("pg", budget=0.5)
            p = pg.proposal("pg-1", datasets, epsilon=0.5)
            result = pg.run(p, pg.approvals(p), datasets)
            assert len(result.released_by) == 3
            spent = {x["dataset_id"]: x["epsilon_spent"] for x in pg.clients[0].get("/v1/budgets")}
            assert spent == {"north-pg": 0.5, "central-pg": 0.5, "south-pg": 0.5}
            p2 = pg.proposal("pg-2", datasets)
            veto = sign_decision(pg.local.parties["north"], Verb.VETO, p2)
            for client in pg.clients:
                client.post("/v1/vetoes", {"proposal": p2.to_json(), "decision": veto.to_json()})
            with pytest.raises(Exception, match="vetoed"):
                pg.run(p2, pg.approvals(p2), datasets)


def test_the_same_flow_through_the_control_plane(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        control_plane(tmp_path) as env,
        world(tmp_path / "w", control_plane_log_key=env.cp.ledger.verifier.vkey()) as w,
    ):
        roster, ca, cpu = str(w.local.root / "roster.json"), str(w.local.ca.cert_path), env.url
        token = env.token(Kind.OPERATOR)
        custodians = []
        for c in w.local.roster.custodians:
            path = tmp_path / f"{c.name}.json"
            path.write_text(json.dumps(c.to_json()))
            custodians += ["--custodian", str(path)]
        party_files = []
        keys = {}
        for name in PARTIES:
            keys[name] = tmp_path / f"{name}.key"
            write_private(
                keys[name], json.dumps(w.local.parties[name].to_json()).encode(), what="party key"
            )
            public = tmp_path / f"{name}.pub.json"
            public.write_text(json.dumps(w.local.parties[name].public.to_json()))
            party_files += ["--party", str(public)]
        assert (
            _run(
                "commons",
                "roster",
                "--commons",
                "local-commons",
                "--approvals",
                "2",
                "--shares",
                "2",
                *party_files,
                *custodians,
                "--control-plane-key",
                env.cp.ledger.verifier.vkey(),
                "--control-plane",
                cpu,
                "--token",
                token,
                "--out",
                str(tmp_path / "r.json"),
            )
            == EXIT_OK
        )
        assert json.loads((tmp_path / "r.json").read_text()) == json.loads(Path(roster).read_text())
        analysis = tmp_path / "a.wasm"
        analysis.write_bytes(w.module)
        for name in PARTIES:
            assert (
                _run(
                    "commons",
                    "dataset",
                    "add",
                    str(EXAMPLE / f"{name}.csv"),
                    "--id",
                    f"{name}-cp",
                    "--roster",
                    roster,
                    "--ca",
                    ca,
                    "--party-key",
                    str(keys[name]),
                    "--out",
                    str(tmp_path / f"{name}.sealed"),
                    "--control-plane",
                    cpu,
                )
                == EXIT_OK
            )
        proposal = tmp_path / "p.json"
        assert (
            _run(
                "commons",
                "propose",
                "--id",
                "cp-1",
                "--analysis",
                str(analysis),
                "--proposer",
                "north",
                *[a for n in PARTIES for a in ("--dataset", f"{n}-cp")],
                "--party-key",
                str(keys["north"]),
                "--control-plane",
                cpu,
                "--out",
                str(proposal),
            )
            == EXIT_OK
        )
        for name in ("central", "south"):
            assert (
                _run(
                    "commons",
                    "approve",
                    str(proposal),
                    "--party-key",
                    str(keys[name]),
                    "--control-plane",
                    cpu,
                    "--out",
                    str(tmp_path / f"{name}.d.json"),
                )
                == EXIT_OK
            )
        assert (
            _run(
                "commons",
                "run",
                "cp-1",
                "--analysis",
                str(analysis),
                "--attest-dir",
                str(w.local.root.parent / "genoa"),
                "--roster",
                roster,
                "--ca",
                ca,
                "--control-plane",
                cpu,
                "--out",
                str(tmp_path / "res.json"),
            )
            == EXIT_OK
        )
        assert (
            _run(
                "commons",
                "open",
                "cp-1",
                "--party-key",
                str(keys["south"]),
                "--control-plane",
                cpu,
                "--out",
                str(tmp_path / "o.json"),
            )
            == EXIT_OK
        )
        assert json.loads((tmp_path / "o.json").read_text())["proposal_id"] == "cp-1"
        assert (
            _run("commons", "witness", "--roster", roster, "--ca", ca, "--control-plane", cpu)
            == EXIT_OK
        )
        capsys.readouterr()
        assert (
            _run(
                "commons",
                "audit",
                "--party",
                "north",
                "--roster",
                roster,
                "--ca",
                ca,
                "--control-plane",
                cpu,
            )
            == EXIT_OK
        )
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[-1].startswith("control-plane: ") and lines[-1].endswith("; ok"), lines
