"""The tenant's whole job from the CLI, over real HTTP on loopback, on SQLite and PostgreSQL:
upload, secret, policy, `deploy --wait`, `deployment list|show|stop`, `results --follow`,
`workload delete`, `secret delete`, `--json` on each; and another tenant sees none of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from control_helpers import DEMO_POLICY, Env, control_plane, database_url, greeter_wasm
from elsewhere.cli import main
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.tenants import create_tenant

__all__ = ["database_url"]


def _token(env: Env, name: str) -> str:
    with write(env.cp.engine) as conn:
        return create_tenant(conn, name).token


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> Any:
    got, out, err = _run(capsys, *argv, "--json")
    assert got == code, err
    return json.loads(out)


def _files(tmp: Path) -> tuple[Path, Path, Path]:
    wasm, secret, policy = tmp / "greeter.wasm", tmp / "secret.txt", tmp / "policy.toml"
    wasm.write_bytes(greeter_wasm())
    secret.write_bytes(b"alice-secret")
    policy.write_text(DEMO_POLICY)
    return wasm, secret, policy


def test_a_tenant_does_its_whole_job_from_the_cli(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    wasm, secret, policy = _files(tmp_path)
    with control_plane(tmp_path, database_url) as env:
        alice = ("--control", env.url, "--token", _token(env, "alice"))
        bob = ("--control", env.url, "--token", _token(env, "bob"))
        digest = _json(capsys, "workload", "upload", str(wasm), *alice)["digest"]
        assert _json(capsys, "secret", "put", "greeting-key", "--file", str(secret), *alice)
        assert _json(capsys, "set-policy", str(policy), *alice)["version"] == 1
        assert [w["digest"] for w in _json(capsys, "workload", "list", *alice)] == [digest]

        # No host yet: the deployment waits, and says so without "on -".
        waiting = _json(capsys, "deploy", digest, "--secret", "greeting-key", *alice)["id"]
        code, out, _ = _run(capsys, "deployment", "show", waiting, *alice)
        assert code == 0 and "replica 0: pending" in out and " on -" not in out, out
        # A workload a deployment still runs cannot be deleted (one line, 409).
        size = env.cp.ledger.size
        code, _, err = _run(capsys, "workload", "delete", digest, *alice)
        assert code == 2 and "409" in err and "stop it first" in err and err.count("\n") == 1
        assert env.cp.ledger.size == size  # refused: nothing changed, nothing logged

        # Bob sees and touches nothing of Alice's: 404, exactly like a missing one.
        assert _json(capsys, "deployment", "list", *bob) == []
        for argv in (
            ("deployment", "show", waiting),
            ("deployment", "stop", waiting),
            ("results", waiting),
            ("workload", "delete", digest),
        ):
            code, _, err = _run(capsys, *argv, *bob)
            assert code == 2 and "404" in err, (argv, err)
        code, _, err = _run(capsys, "secret", "delete", "greeting-key", *bob)
        assert code == 2 and "404" in err

        stopped = _json(capsys, "deployment", "stop", waiting, *alice)
        assert stopped["state"] == "stopped" and len(stopped["stopped"]) == 1
        entry = env.cp.ledger.entry(stopped["ledger_index"])
        assert entry["kind"] == "tenant.withdrawal" and entry["subject"] == waiting
        size = env.cp.ledger.size
        again = _json(capsys, "deployment", "stop", waiting, *alice)
        assert again["stopped"] == [] and again["ledger_index"] is None
        assert env.cp.ledger.size == size  # nothing changed: nothing logged

        # With a host, `deploy --wait` follows until every replica finished.
        env.agent("genoa", generation="Genoa")
        code, out, err = _run(
            capsys, "deploy", digest, "--secret", "greeting-key", "--arg", "greeting-key",
            "--replicas", "2", "--wait", *alice,
        )  # fmt: skip
        assert code == 0, err
        assert "replica 0: completed on genoa" in out and "greeting-key: 12 bytes" in out, out
        assert "exit code 0" in out and "exit code None" not in out
        done = _json(capsys, "deployment", "list", *alice)
        assert [(d["state"], d["placements"]) for d in done] == [
            ("stopped", {"stopped": 1}),
            ("completed", {"completed": 2}),
        ]
        finished = done[1]["id"]
        code, out, _ = _run(capsys, "results", finished, "--follow", *alice)
        assert code == 0 and f"deployment {finished}: completed" in out
        view = _json(capsys, "results", finished, "--follow", *alice)
        assert view["state"] == "completed"
        # The host's isolation report matches the control plane's: said once, not printed again.
        assert out.count("host-reported isolation: the same as the control plane's") == 2
        assert out.count("workload from host:") == 2  # once per replica

        deleted = _json(capsys, "secret", "delete", "greeting-key", *alice)
        assert deleted["deleted"] and _json(capsys, "secret", "list", *alice) == []
        assert env.cp.ledger.entry(deleted["ledger_index"])["action"] == "delete_secret"
        gone = _json(capsys, "workload", "delete", digest, *alice)
        assert env.cp.ledger.entry(gone["ledger_index"])["subject"] == f"sha384:{digest}"
        assert _json(capsys, "workload", "list", *alice) == []
        code, _, err = _run(capsys, "deploy", digest, *alice)
        assert code == 2 and "no such workload" in err
        # Past deployments still name their workload.
        assert _json(capsys, "deployment", "show", finished, *alice)["workload"] == digest
        # Uploading the same bytes again restores it.
        assert _json(capsys, "workload", "upload", str(wasm), *alice)["digest"] == digest
        assert len(_json(capsys, "workload", "list", *alice)) == 1


def test_no_policy_names_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wasm, _, _ = _files(tmp_path)
    with control_plane(tmp_path) as env:
        api = ("--control", env.url, "--token", _token(env, "carol"))
        digest = _json(capsys, "workload", "upload", str(wasm), *api)["digest"]
        code, _, err = _run(capsys, "deploy", digest, *api)
        assert code == 2 and "elsewhere set-policy FILE" in err and err.count("\n") == 1


def test_a_module_without_start_is_refused_at_upload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from elsewhere.keep.wat import wat_to_wasm

    library = tmp_path / "lib.wasm"
    library.write_bytes(wat_to_wasm('(module (func (export "add") (result i32) i32.const 1))'))
    with control_plane(tmp_path) as env:
        api = ("--control", env.url, "--token", _token(env, "dave"))
        code, _, err = _run(capsys, "workload", "upload", str(library), *api)
        assert code == 2 and "no _start function" in err and err.count("\n") == 1
        assert _json(capsys, "workload", "list", *api) == []


def _view(result: dict[str, Any] | None, state: str = "completed", **placement: Any) -> Any:
    return {
        "id": "dep_x",
        "state": "active",
        "workload": "ab" * 48,
        "placements": [
            {"id": "pl_x", "replica": 0, "state": state, "host": "genoa", "note": None}
            | {"result": result}
            | placement
        ],
        "decisions": [],
    }


def _isolation(summary: str) -> dict[str, Any]:
    names = ("workload_from_workload", "host_from_workload", "workload_from_host")
    return {name: {"summary": summary, "details": []} for name in names}


def test_a_keep_without_an_exit_code_says_why() -> None:
    from elsewhere.cli.results import render

    trapped = {
        "exit_code": None,
        "error": "wasm trap: unreachable",
        "stdout": "",
        "stderr": "",
        "sealed": False,
        "isolation": _isolation("x"),
        "host_reported_isolation": _isolation("y"),
        "duration_ms": 1,
    }
    text = render(_view(trapped, "failed"), None)
    assert "None" not in text
    assert "no exit code: wasm trap: unreachable" in text
    # A host report that differs is shown (only where it differs), marked as not trusted.
    assert "host-reported isolation differs (what the host says; not trusted)" in text
    assert text.count("summary") == 0 and text.count(": y") == 3


def test_a_replica_no_host_holds_reads_plainly() -> None:
    from elsewhere.cli.results import render

    text = render(_view(None, "pending", host=None), None)
    assert "replica 0: pending (waiting for a host)" in text and " on -" not in text
    text = render(_view(None, "pending", host=None, note="waiting: no host accepted"), None)
    assert "replica 0: pending — waiting: no host accepted" in text


def test_the_host_agent_never_prints_exit_code_none(capsys: pytest.CaptureFixture[str]) -> None:
    from elsewhere.cli.host import _print
    from elsewhere.host.agent import Outcome

    _print(Outcome("pl_1", "affirming", exit_code=None, error="trap: wasm `unreachable`"))
    _print(Outcome("pl_2", "affirming", exit_code=3))
    out = capsys.readouterr().out
    assert "None" not in out
    assert "pl_1: released, no exit code: trap: wasm `unreachable`" in out
    assert "pl_2: released, exit code 3" in out


def test_operator_store_commands_print_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ("--data-dir", str(tmp_path / "cp"))
    made = _json(capsys, "tenant", "create", "acme", *store)
    assert made["name"] == "acme" and made["token"].startswith("ewt_")
    assert [t["name"] for t in _json(capsys, "tenant", "list", *store)] == ["acme"]
    assert _json(capsys, "tenant", "token", "acme", *store)["token"].startswith("ewt_")
    assert _json(capsys, "operator-token", "create", *store)["token"].startswith("ewo_")
    assert _json(capsys, "host-token", "create", "--name", "h1", *store)["token"].startswith("ewh_")
    tokens = _json(capsys, "token", "list", *store)
    assert sorted(t["kind"] for t in tokens) == ["host", "operator", "tenant", "tenant"]
    revoked = _json(capsys, "token", "revoke", tokens[0]["id"], *store)
    assert revoked["id"] == tokens[0]["id"] and revoked["state"]


def test_follow_backs_off_while_nothing_changes_and_sees_each_change(tmp_path: Path) -> None:
    import itertools
    import time

    from elsewhere.cli.deployment import FIRST_INTERVAL, LAST_INTERVAL, follow

    with control_plane(tmp_path) as env:
        tenant, digest = env.setup_tenant()
        deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
        intervals: list[float] = []
        states: list[str] = []

        def sleep(seconds: float) -> None:
            intervals.append(seconds)
            if len(intervals) == 6:  # a host arrives only after a while of nothing happening
                env.agent("genoa", generation="Genoa")
            time.sleep(min(seconds, 0.02))  # the test keeps its pace; the intervals are checked

        def changed(view: dict[str, Any]) -> None:
            states.append(view["placements"][0]["state"])

        view = follow(tenant, deployment, changed, sleep)
        assert view["state"] == "completed" and states[0] == "pending"
        assert states[-1] == "completed" and len(states) >= 2
        # Each wait doubles the one before (0.25, 0.5, 1, 2, 4, then 5 s at most) while nothing
        # changes, and starts again from 0.25 s after a change.
        assert intervals[0] == FIRST_INTERVAL
        for before, after in itertools.pairwise(intervals):
            assert after in (FIRST_INTERVAL, min(before * 2, LAST_INTERVAL)), intervals
        assert max(intervals[:6]) >= 2.0, intervals  # it backed off while nothing changed
        assert FIRST_INTERVAL in intervals[6:], intervals  # the host's progress reset it
