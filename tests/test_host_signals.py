"""Secrets that do not outlive the agent (issue #21, defect 3) and keeps that end with it:
SIGTERM, SIGHUP and SIGINT to a real `elsewhere host` process stop its keeps — even one
blocked in an unbounded WASI sleep — remove every keep's secrets and exit 0; a start removes
the scratch directory a dead agent left; a deployment's DELETE ends its sleeping keeps and
frees the agent's capacity."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from control_helpers import Env, control_plane, wait_for
from elsewhere.control.tenancy.auth import Kind
from elsewhere.host.client import Client
from elsewhere.keep.scratch import LOCK_NAME, PREFIX, scratch_base
from elsewhere.keep.wat import wat_to_wasm
from waits import remaining

SLEEP_FOREVER = """(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i64.store (i32.const 24) (i64.const -1))
    (call $exit (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"""
NO_METER = {"fuel": None, "wall_time_s": None}


def sleeping_deployment(env: Env, replicas: int = 1) -> tuple[Client, str]:
    tenant, _ = env.setup_tenant()
    digest = tenant.upload_workload(wat_to_wasm(SLEEP_FOREVER), "sleep.wasm")["digest"]
    body = {"workload": digest, "secrets": ["greeting-key"], "limits": NO_METER}
    return tenant, tenant.deploy({**body, "replicas": replicas})["id"]


def released(tenant: Client, deployment: str, count: int = 1) -> bool:
    states = [p["state"] for p in tenant.deployment(deployment)["placements"]]
    return states.count("released") == count


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_ends_the_keeps_and_removes_their_secrets(
    tmp_path: Path, signum: signal.Signals
) -> None:
    # What a crashed agent left: a keep directory with a secret and nobody holding its lock.
    leftover = scratch_base() / f"{PREFIX}999999999-crashed-{tmp_path.name}"
    (leftover / "secrets").mkdir(parents=True)
    (leftover / "secrets" / "greeting-key").write_bytes(b"plaintext")
    (leftover / LOCK_NAME).touch()
    with control_plane(tmp_path) as env:
        env.attester("emulated-snp", "sig-host", generation="Genoa")  # its root is trusted
        code = "from elsewhere.cli import main; raise SystemExit(main())"
        command = [sys.executable, "-c", code, "host", "--control", env.url]
        command += ["--token", env.token(Kind.HOST, "sig-host"), "--name", "sig-host"]
        command += ["--attester", "emulated-snp", "--generation", "Genoa"]
        command += ["--state-dir", str(tmp_path / "hosts" / "sig-host")]
        host = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            tenant, deployment = sleeping_deployment(env)
            wait_for(lambda: released(tenant, deployment))
            secrets = wait_for(
                lambda: list(scratch_base().glob(f"{PREFIX}{host.pid}-*/secrets/greeting-key"))
            )
            assert not leftover.exists()  # swept when the agent started
            host.send_signal(signum)
            output = host.communicate(timeout=remaining())[0].decode()
        finally:
            if host.poll() is None:
                host.kill()
                host.wait()
            shutil.rmtree(leftover, ignore_errors=True)  # when the test fails before the sweep
    assert host.returncode == 0, output
    assert f"removed {leftover}" in output
    assert secrets and not any(path.exists() for path in secrets)
    assert not list(scratch_base().glob(f"{PREFIX}{host.pid}-*"))


def test_deleting_a_deployment_ends_its_sleeping_keeps_and_frees_the_host(
    tmp_path: Path,
) -> None:
    with control_plane(tmp_path) as env:
        agent = env.agent("genoa", generation="Genoa")
        tenant, deployment = sleeping_deployment(env, replicas=2)
        wait_for(lambda: released(tenant, deployment, 2))
        placements = {p["id"] for p in tenant.deployment(deployment)["placements"]}
        # both guests in their sleep (the heartbeat that carries the DELETE comes later)
        wait_for(lambda: len(agent._busy) == 2)
        for keep in list(agent._busy.values()):
            assert keep.started.wait(remaining())
        tenant.request("DELETE", f"/v1/deployments/{deployment}")
        wait_for(lambda: len([o for o in env.outcomes if o.placement in placements]) == 2)
        stopped = [o for o in env.outcomes if o.placement in placements]
        assert [o.verdict for o in stopped] == ["stopped", "stopped"]
        assert all("process killed" in (o.error or "") for o in stopped)
        assert not agent._busy  # its capacity is free again
