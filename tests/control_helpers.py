"""Shared set-up for the control-plane tests: a real uvicorn server on a loopback port over
SQLite (a temporary directory) or PostgreSQL (a uniquely named database, dropped after)."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from elsewhere.attest import make_attester
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.serve.edge import TLSFiles
from elsewhere.control.serve.server import ThreadedServer
from elsewhere.control.store.tables import hosts
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind, create_credential
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.crypto.binding import report_data
from elsewhere.crypto.devtls import auto_tls
from elsewhere.crypto.hpke import KeepKey
from elsewhere.host.agent import HostAgent, Outcome
from elsewhere.host.client import Client, b64
from elsewhere.keep.wat import wat_to_wasm
from elsewhere.timeutil import utcnow
from elsewhere.wire import digest_bytes
from waits import remaining, wait_for

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

DEMO_POLICY = """version = 1
name = "refuse-milan-emulated"
revision = "1"
[tee]
accept = ["sev-snp", "tdx", "sgx"]
allow_emulated = true
[platforms]
refuse = ["AMD:Milan"]
"""


def greeter_wasm() -> bytes:
    return wat_to_wasm((REPO / "examples/workloads/secret-greeter.wat").read_text())


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local server; skips the test when none is reachable."""
    try:
        import psycopg

        admin = psycopg.connect(
            PG_ADMIN.replace("postgresql://", "postgresql://"), autocommit=True, connect_timeout=10
        )
    except Exception as error:  # no server: skip, saying why
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(error).__name__})")
    name = f"elsewhere_test_{secrets.token_hex(6)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


@dataclass
class Env:
    """One control plane on loopback, with helpers to make tenants, hosts and agents."""

    cp: ControlPlane
    server: ThreadedServer
    tmp: Path
    agents: list[HostAgent] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    # when each placement's outcome reached the test (time.monotonic()), for tests that
    # bound how soon a keep stopped without sleeping to look
    outcome_times: dict[str, float] = field(default_factory=dict)
    loops: dict[str, threading.Thread] = field(default_factory=dict)
    ca: Path | None = None  # with control_plane(tls=True): the development CA's certificate
    # every client `tenant` handed out, closed with the control plane (a client left to the
    # garbage collector closes its socket with a ResourceWarning in some later test)
    clients: list[Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca else True

    def tenant(self, name: str | None = None) -> Client:
        with write(self.cp.engine) as conn:
            made = create_tenant(conn, name or f"tenant-{secrets.token_hex(3)}")
        client = Client(self.url, made.token, verify=self.verify)
        self.clients.append(client)
        return client

    def token(self, kind: Kind, name: str = "t") -> str:
        """A fresh token of `kind`; a tenant token comes with its own new tenant."""
        with write(self.cp.engine) as conn:
            if kind is Kind.TENANT:
                return create_tenant(conn, f"{name}-{secrets.token_hex(3)}").token
            return create_credential(conn, kind, name)

    def attester(self, kind: str, name: str, **options: Any) -> Any:
        attester = make_attester(kind, self.tmp / "hosts" / name, **options)
        anchor = getattr(attester, "trust_anchor", None)
        if anchor is not None:
            self.cp.emulated_anchors = (*self.cp.emulated_anchors, anchor)
        return attester

    def agent(
        self,
        name: str,
        kind: str = "emulated-snp",
        start: bool = True,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> HostAgent:
        agent = HostAgent(
            Client(self.url, self.token(Kind.HOST, name), verify=self.verify),
            self.attester(kind, name, **options),
            name=name,
            on_outcome=self._outcome,
            clock=clock,
        )
        agent.register()
        if start:
            loop = threading.Thread(target=agent.run, args=(0.1,), daemon=True)
            loop.start()
            self.loops[name] = loop
        self.agents.append(agent)
        return agent

    def _outcome(self, outcome: Outcome) -> None:
        self.outcome_times[outcome.placement] = time.monotonic()
        self.outcomes.append(outcome)

    def silence(self, agent: HostAgent) -> None:
        """The host falls silent for longer than the heartbeat timeout: its agent stops (and
        its poll loop ends, so no heartbeat is in flight), then its last heartbeat is moved
        back past the timeout. The next maintenance round finds it lost, as it would once the
        timeout elapsed, without the test racing a short timeout against a loaded machine."""
        agent.stop()
        loop = self.loops.pop(agent.name, None)
        if loop is not None:
            loop.join(remaining())
            assert not loop.is_alive(), f"agent {agent.name} still polling"
        gone = utcnow() - self.cp.config.heartbeat_timeout - dt.timedelta(seconds=1)
        with write(self.cp.engine) as conn:
            conn.execute(update(hosts).where(hosts.c.id == agent.host_id).values(last_seen=gone))

    def waiting_placement(self, name: str = "genoa") -> tuple[HostAgent, str]:
        """A registered host agent that is not running, and the placement it is assigned for
        a fresh tenant's deployment of the secret greeter: waiting for its evidence."""
        agent = self.agent(name, start=False)
        tenant, digest = self.setup_tenant()
        tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})
        return agent, wait_for(agent.client.assignments)[0]["placement"]

    def setup_tenant(
        self, policy: str = DEMO_POLICY, secret: bytes = b"demo-secret"
    ) -> tuple[Client, str]:
        tenant = self.tenant()
        digest = tenant.upload_workload(greeter_wasm(), "secret-greeter.wasm")["digest"]
        tenant.put_secret("greeting-key", secret)
        tenant.set_policy(policy)
        return tenant, digest


def settled(tenant: Client, deployment: str) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        view = tenant.deployment(deployment)
        done = all(p["state"] in ("completed", "failed") for p in view["placements"])
        return view if done else None

    return check


@contextlib.contextmanager
def control_plane(
    tmp: Path, database_url: str | None = None, *, tls: bool = False, **config: Any
) -> Iterator[Env]:
    """A control plane on loopback; `tls`: served over TLS with `serve --tls auto`'s files."""
    options: dict[str, Any] = {
        "trust_emulated": True,
        # Longer than any test: a registered host that does not poll (or polls late on a
        # loaded machine) stays live. A test that needs a host lost says so: Env.silence.
        "heartbeat_timeout": dt.timedelta(minutes=10),
        "maintenance_interval": 0.1,
    }
    options.update(config)
    cp = ControlPlane.open(ControlConfig.for_dir(tmp / "cp", database_url, **options))
    made = auto_tls(tmp / "tls", "127.0.0.1") if tls else None
    files = TLSFiles(made.server.cert, made.server.key) if made else None
    server = ThreadedServer(cp, tls=files).start(timeout=remaining())
    env = Env(cp, server, tmp, ca=made.ca if made else None)
    try:
        yield env
    finally:
        for agent in env.agents:
            agent.stop()
        for client in env.clients:
            client.close()
        server.stop()
        cp.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the test's data directory) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_database() as url:
        yield url


def postgres_available() -> contextlib.AbstractContextManager[str] | None:
    """A fresh-database context manager when the local server answers, else None."""
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=10).close()
    except Exception:
        return None
    return postgres_database()


def attest_body(
    client: Client,
    attester: Any,
    placement: str,
    *,
    key: KeepKey | None = None,
    workload_digest: str | None = None,
) -> dict[str, str]:
    """Ask for a nonce and build the request a keep sends: evidence binding the nonce, a keep
    key, the workload and the policy (`workload_digest` overrides the assigned one)."""
    issued = client.nonce(placement)
    key = key or KeepKey.generate()
    binding = report_data(
        bytes.fromhex(issued["nonce"]),
        key.public_bytes(),
        bytes.fromhex(workload_digest or issued["workload_digest"]),
        digest_bytes(issued["policy_digest"]),
    )
    evidence = attester.attest(binding)
    return {
        "nonce": issued["nonce"],
        "keep_public_key": b64(key.public_bytes()),
        "evidence": b64(evidence.evidence),
        "certificates": b64(evidence.aux),
    }


def deploy_valued(tenant: Client, digest: str, impact: str | None, **extra: Any) -> str:
    """Deploy the secret greeter valued at `impact` USD (None: the control plane's default)."""
    body: dict[str, Any] = {"workload": digest, "secrets": ["greeting-key"]} | extra
    if impact is not None:
        body["impact"] = {"amount": impact, "currency": "USD"}
    return str(tenant.deploy(body)["id"])
