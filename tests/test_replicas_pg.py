"""Three replicas (separate `serve` processes, each its own data directory, one --keys
directory, one PostgreSQL database): a secret stored through one is released through
another, with a nonce issued by a third; every replica publishes the same keys; a checkpoint
signed by the lease holder verifies with another replica's key listing; and when the
scheduler's lease holder is killed with SIGKILL, another replica takes the lease over."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
import pytest

from control_helpers import DEMO_POLICY, attest_body, greeter_wasm, postgres_database
from elsewhere.attest import make_attester
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.scheduling.leases import CHECKPOINTS, LEASE_SECONDS, SCHEDULER
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind, create_credential
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.crypto.hpke import KeepKey
from elsewhere.host.client import Client
from elsewhere.ledger.checkpoint import open_checkpoint
from elsewhere.ledger.note import Verifier
from elsewhere.ledger.store import Store
from elsewhere.wire import SECRET_INFO, secret_aad
from replica_support import Replica, cli, start_replica
from waits import remaining, wait_for

pytestmark = pytest.mark.postgres


def holder_of(replicas: list[Replica], lease: str) -> Replica | None:
    for replica in replicas:
        doc = replica.ready()
        if (
            doc.get("leases", {}).get(lease, {}).get("mine")
            and doc["leases"][lease]["expires_in"] > 0
        ):
            return replica
    return None


def test_three_replicas_share_keys_nonces_secrets_and_leases(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    made = cli("keys", "init", str(keys))
    assert made.returncode == 0, made.stderr
    attester = make_attester("emulated-snp", tmp_path / "genoa", generation="Genoa")
    root = tmp_path / "genoa" / "emulated-snp" / "ark.pem"
    with postgres_database() as url:
        # The operator's own tools open the store with the same keys (tokens are rows).
        cp = ControlPlane.open(ControlConfig.for_dir(tmp_path / "operator", url, keys_dir=keys))
        with write(cp.engine) as conn:
            tenant_token = create_tenant(conn, "acme").token
            host_token = create_credential(conn, Kind.HOST, "genoa")
        cp.close()
        replicas = [start_replica(tmp_path, f"r{i}", keys, url, root) for i in range(3)]
        try:
            a, b, c = replicas
            # Every replica publishes the same result keys and log key.
            jwks = [httpx.get(f"{r.url}/.well-known/jwks.json").json() for r in replicas]
            assert jwks[0] == jwks[1] == jwks[2]
            vkeys = [Client(r.url, tenant_token).ledger_keys() for r in replicas]
            assert vkeys[0] == vkeys[1] == vkeys[2]

            tenant = Client(a.url, tenant_token)
            digest = tenant.upload_workload(greeter_wasm(), "g.wasm")["digest"]
            tenant.put_secret("greeting-key", b"stored-through-r0")
            tenant.set_policy(DEMO_POLICY)
            Client(b.url, host_token).register("genoa", "emulated-snp", 4)
            tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})
            host_c = Client(c.url, host_token)
            (assignment,) = wait_for(host_c.assignments)
            placement = assignment["placement"]
            key = KeepKey.generate()
            # nonce from r1, evidence to r2: the secret stored through r0 is released
            body = attest_body(Client(b.url, host_token), attester, placement, key=key)
            answer = host_c.attest(placement, body)
            assert answer["verdict"] == "affirming", answer
            sealed = base64.b64decode(answer["secrets"]["greeting-key"])
            opened = key.open(sealed, info=SECRET_INFO, aad=secret_aad(placement, "greeting-key"))
            assert opened == b"stored-through-r0"

            # A checkpoint signed by the lease holder verifies under another replica's list.
            signer = wait_for(lambda: holder_of(replicas, CHECKPOINTS))
            other = next(r for r in replicas if r is not signer)
            listed = Client(other.url, tenant_token).ledger_keys()
            cp = ControlPlane.open(ControlConfig.for_dir(tmp_path / "operator", url, keys_dir=keys))
            try:

                def covered() -> bytes | None:
                    with cp.engine.connect() as conn:
                        state, last = Store.state(conn), Store.latest_checkpoint(conn)
                    ok = state is not None and last is not None and last.size == state.size
                    return last.note if ok and last is not None else None

                note = wait_for(covered)
            finally:
                cp.close()
            checkpoint = open_checkpoint(note, Verifier.parse(listed[0]))
            assert checkpoint.size >= 2

            # kill -9 the scheduler's holder: another replica holds it within the lease time.
            holder = wait_for(lambda: holder_of(replicas, SCHEDULER))
            holder.stop()
            killed = time.monotonic()
            survivors = [r for r in replicas if r is not holder]
            taker = wait_for(lambda: holder_of(survivors, SCHEDULER))
            took = time.monotonic() - killed
            assert taker in survivors
            assert took < LEASE_SECONDS + 5, f"takeover took {took:.1f} s"
            assert remaining() > 0
        finally:
            for replica in replicas:
                replica.stop()
