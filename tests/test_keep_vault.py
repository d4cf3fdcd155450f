"""A keep reads a data subject's records through its one host call, elsewhere.vault_read
(keep/vault.py, host/vaultread.py): only for a purpose the deployment declared, only with the
keep's attested key, each release a ledger entry; refusals reach the guest as a result code."""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from control_helpers import REPO, control_plane, database_url  # noqa: F401
from elsewhere.control.store.transactions import read
from elsewhere.host.client import Client
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.runtime import run_module
from elsewhere.keep.vault import VaultAnswer
from elsewhere.keep.wat import wat_to_wasm
from elsewhere.ledger.schema import ledger_entries

READER = wat_to_wasm((REPO / "examples/workloads/vault-reader.wat").read_text())


def _config(*args: str) -> KeepConfig:
    return KeepConfig(
        workload_digest=hashlib.sha384(READER).digest(),
        args=args,
        limits=KeepLimits(wall_time_s=30),
    )


def test_the_guest_gets_the_records_its_host_side_answered_and_the_refusals_as_codes() -> None:
    asked: list[tuple[str, str]] = []

    def reader(subject: str, purpose: str) -> VaultAnswer:
        asked.append((subject, purpose))
        if purpose == "marketing":
            return VaultAnswer(refused="the deployment did not declare the purpose marketing")
        if purpose == "offline":
            return VaultAnswer(unavailable="control plane unreachable")
        return VaultAnswer(records=(b"shoe size 38", b"likes \xe6\x97\xa5\xe6\x9c\xac"))

    found = run_module(READER, _config("alice", "gift-matching"), vault=reader)
    assert (found.outcome, found.exit_code) == ("exited", 0)
    assert found.stdout == "shoe size 38\nlikes 日本\n".encode()
    assert asked == [("alice", "gift-matching")]
    refused = run_module(READER, _config("alice", "marketing"), vault=reader)
    assert refused.exit_code == 3 and b"refused" in refused.stderr
    assert run_module(READER, _config("alice", "offline"), vault=reader).exit_code == 4
    # Without a reader (`keep run` on the nil host) the call is refused, never answered.
    assert run_module(READER, _config("alice", "gift-matching")).exit_code == 3


def test_a_reader_that_fails_gives_the_guest_unavailable_not_a_hang() -> None:
    def broken(_subject: str, _purpose: str) -> VaultAnswer:
        raise RuntimeError("the host side broke")

    assert run_module(READER, _config("alice", "gift-matching"), vault=broken).exit_code == 4


def test_a_guest_waiting_in_vault_read_still_meets_its_wall_time_limit() -> None:
    """The host side answers in a thread of its own: a control plane that never answers does
    not hold the keep past its wall-time limit (the process is killed, as for a WASI call)."""
    never = threading.Event()

    def hanging(_subject: str, _purpose: str) -> VaultAnswer:
        never.wait(60)
        return VaultAnswer(unavailable="too late")

    config = KeepConfig(
        workload_digest=hashlib.sha384(READER).digest(),
        args=("alice", "gift-matching"),
        limits=KeepLimits(wall_time_s=1),
    )
    try:
        found = run_module(READER, config, vault=hanging)
    finally:
        never.set()
    assert (found.outcome, found.killed) == ("wall-time-exceeded", True)


def test_out_of_bounds_arguments_are_refused_by_the_host_call() -> None:
    wat = """(module
      (import "elsewhere" "vault_read"
        (func $r (param i32 i32 i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (call $exit (i32.sub (i32.const 0)
          (call $r (i32.const 65530) (i32.const 100) (i32.const 0) (i32.const 1)
                   (i32.const 0) (i32.const 0))))))"""
    module = wat_to_wasm(wat)
    config = KeepConfig(workload_digest=hashlib.sha384(module).digest())
    called: list[str] = []

    def reader(subject: str, purpose: str) -> VaultAnswer:
        called.append(subject)
        return VaultAnswer()

    assert run_module(module, config, vault=reader).exit_code == 3  # -BAD_ARGUMENTS
    assert called == []


def _put(tenant: Client, subject: str, value: bytes, *purposes: str) -> None:
    body = {
        "subject": subject,
        "purposes": list(purposes),
        "value": base64.b64encode(value).decode(),
    }
    tenant.json("POST", "/v1/vault/records", json=body)


def _run(agent: Any, tenant: Client, digest: str, purpose: str, declare: bool) -> dict[str, Any]:
    body = {"workload": digest, "args": ["alice", purpose], "secrets": []}
    deployment = tenant.deploy(body)["id"]
    if declare:
        tenant.json(
            "PUT",
            f"/v1/vault/deployments/{deployment}/purposes",
            json={"purposes": [purpose]},
        )
    for future in agent.poll_once():
        future.result()
    (placement,) = tenant.deployment(deployment)["placements"]
    result: dict[str, Any] = placement["result"]
    return result


def test_a_deployed_keep_reads_only_a_declared_purpose_and_each_release_is_logged(
    tmp_path: Path,
    database_url: str | None,  # noqa: F811
) -> None:
    with control_plane(tmp_path, database_url) as env:
        tenant, _ = env.setup_tenant()
        digest = tenant.upload_workload(READER, "vault-reader.wasm")["digest"]
        _put(tenant, "alice", b"shoe size 38", "gift-matching")
        _put(tenant, "alice", b"alice@example.org", "marketing")

        agent = env.agent("genoa", start=False)  # the only host: every keep runs there
        refused = _run(agent, tenant, digest, "gift-matching", declare=False)
        assert refused["exit_code"] == 3
        assert base64.b64decode(refused["stdout"]) == b""

        granted = _run(agent, tenant, digest, "gift-matching", declare=True)
        assert granted["exit_code"] == 0
        assert base64.b64decode(granted["stdout"]) == b"shoe size 38\n"  # not the marketing one
        with read(env.cp.engine) as conn:
            kinds = list(conn.execute(select(ledger_entries.c.kind)).scalars())
        assert kinds.count("vault.release") == 1  # the refused call logged no release
