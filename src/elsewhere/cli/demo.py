"""`elsewhere demo`: the whole deployment on one machine, narrated, in a few seconds.

An embedded control plane (SQLite in a temporary directory, uvicorn on a free loopback port)
and three local hosts — emulated AMD Milan, emulated AMD Genoa, nil. A tenant deploys the
secret-greeter workload, which needs a secret, under the policy "refuse AMD Milan; no nil".
EMULATED EVIDENCE AND THE NIL HOST GIVE NO HARDWARE PROTECTION: the policy allows emulated
evidence explicitly only because this machine has no TEE.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import logging
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from elsewhere.attest import make_attester
from elsewhere.claims import EMULATED_WARNING, NIL_WARNING
from elsewhere.cli.commons_demo import run_commons_demo
from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.results import render_isolation, risk_line
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.serve.server import ThreadedServer
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind, create_credential
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.errors import ConfigError
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import Client, b64
from elsewhere.keep.wat import wat_to_wasm
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.note import Verifier

WAT = Path(__file__).resolve().parents[3] / "examples" / "workloads" / "secret-greeter.wat"
HOSTS = (
    ("milan", "emulated-snp", "Milan"),
    ("genoa", "emulated-snp", "Genoa"),
    ("nil", "nil", None),
)
POLICY = """version = 1
name = "refuse-milan-no-nil"
revision = "demo"
description = "Refuse AMD Milan; no nil host. Emulated evidence allowed ONLY for this demo."

[tee]
accept = ["sev-snp", "tdx", "sgx"]   # the nil host is not in the list: refused
allow_emulated = true                # DEMO ONLY: this machine has no TEE

[platforms]
refuse = ["AMD:Milan"]
"""
BUDGET = {"amount": "5000", "currency": "USD", "per": "year"}
IMPACT = {"amount": "500", "currency": "USD"}


def register(commands: Any) -> None:
    demo = commands.add_parser("demo", help="run the end-to-end demonstration (emulated)")
    demo.add_argument("--replicas", type=int, default=3)
    demo.set_defaults(handler=run_demo)
    sub = demo.add_subparsers(title="other demonstrations", metavar="DEMO")
    sub.add_parser(
        "commons", help="a data commons: three agencies, three custodians (emulated)"
    ).set_defaults(handler=run_commons_demo)


class Narrator:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.step = 0

    def __call__(self, text: str) -> None:
        self.step += 1
        print(f"\n[{time.monotonic() - self.started:5.2f}s] {self.step}. {text}")

    @staticmethod
    def say(text: str) -> None:
        print(f"     {text}")


def run_demo(args: argparse.Namespace) -> int:
    logging.getLogger("elsewhere").setLevel(logging.ERROR)
    if not WAT.is_file():
        raise ConfigError("demo", str(WAT), "example workload not found (run from a checkout)")
    print("=" * 78)
    print("ELSEWHERE DEMO — EVERYTHING HERE IS EMULATED OR NIL: NO HARDWARE PROTECTION.")
    print("The emulated platforms sign real-format SEV-SNP reports with keys on this disk;")
    print("the policy allows emulated evidence explicitly only because there is no TEE here.")
    print("=" * 78)
    with tempfile.TemporaryDirectory(prefix="elsewhere-demo-") as directory:
        return _run(Path(directory), args.replicas, Narrator())


def _run(tmp: Path, replicas: int, step: Narrator) -> int:
    step("start the control plane: SQLite in a temporary directory, uvicorn on loopback")
    attesters = {
        name: make_attester(kind, tmp / "hosts" / name, **({"generation": gen} if gen else {}))
        for name, kind, gen in HOSTS
    }
    config = ControlConfig.for_dir(
        tmp / "control",
        trust_emulated=True,
        heartbeat_timeout=dt.timedelta(seconds=5),
        maintenance_interval=0.2,
    )
    cp = ControlPlane.open(config)
    anchors = [a.trust_anchor for a in attesters.values() if hasattr(a, "trust_anchor")]
    cp.emulated_anchors = tuple(anchors)
    with write(cp.engine) as conn:
        tenant = create_tenant(conn, "acme")
        host_tokens = {name: create_credential(conn, Kind.HOST, name) for name in attesters}
    server = ThreadedServer(cp).start()
    agents: list[HostAgent] = []
    try:
        step.say(f"API at {server.url} (OpenAPI at {server.url}/docs)")
        step.say(f"the control plane trusts {len(anchors)} EMULATED roots, because we told it to")
        step("start three hosts and register them with their host tokens")
        for name, _kind, gen in HOSTS:
            agent = HostAgent(Client(server.url, host_tokens[name]), attesters[name], name=name)
            agent.register()
            threading.Thread(target=agent.run, args=(0.1,), daemon=True).start()
            agents.append(agent)
            label = f"emulated AMD {gen} (SEV-SNP)" if gen else "nil (no TEE)"
            warning = EMULATED_WARNING if gen else NIL_WARNING
            step.say(f"{name:6} {label:28} — {warning}")
        return _tenant_flow(tmp, server.url, tenant.token, replicas, step)
    finally:
        step("tear down: stop hosts and the control plane, delete the temporary directory")
        for agent in agents:
            agent.stop()
        server.stop()
        cp.close()


def _tenant_flow(tmp: Path, url: str, token: str, replicas: int, step: Narrator) -> int:
    api = Client(url, token)
    secret = f"greeting-key-{secrets.token_hex(8)}".encode()
    step("tenant acme uploads the workload, stores its secret and sets its policy")
    uploaded = api.upload_workload(wat_to_wasm(WAT.read_text()), "secret-greeter.wasm")
    step.say(f"workload secret-greeter.wasm = sha384:{uploaded['digest'][:32]}…")
    api.put_secret("greeting-key", secret)
    step.say(f"secret greeting-key: {len(secret)} bytes, AES-256-GCM at rest")
    policy = api.set_policy(POLICY)
    step.say(f"policy: refuse AMD Milan; no nil — {policy['digest'][:24]}…")
    step.say("POLICY ALLOWS EMULATED EVIDENCE FOR THIS DEMO ONLY (no hardware here)")
    budget = api.json("PUT", "/v1/risk-budget", json=BUDGET)["budget"]
    step.say(f"risk budget: {budget['amount']} {budget['currency']} per {budget['per']}")

    step(
        f"deploy {replicas} replicas, impact {IMPACT['amount']} {IMPACT['currency']}; "
        "each host that gets one must attest its keep"
    )
    deployment = api.deploy(
        {
            "workload": uploaded["digest"],
            "replicas": replicas,
            "secrets": ["greeting-key"],
            "args": ["greeting-key"],
            "stdin": b64(b"world"),
            "impact": IMPACT,
        }
    )["id"]
    view = _wait(api, deployment)
    step("the key broker's decisions (evidence → verify → binding → policy → ledger)")
    for d in view["decisions"]:
        if d["verdict"] == "affirming":
            step.say(
                f"{d['host']:6} ACCEPTED: secret released, HPKE-wrapped to the keep's key "
                f"[ledger #{d['ledger_index']}]"
            )
        else:
            step.say(
                f"{d['host']:6} REFUSED because {'; '.join(d['reasons'])} "
                f"[ledger #{d['ledger_index']}]"
            )
    placed = next((p for p in view["placements"] if p["host"] == "genoa" and p["risk"]), None)
    if placed is not None:
        step("the risk of the accepted placement (emulated: priced as unprotected)")
        step.say(f"genoa: {risk_line(placed['risk'])}")
    step("the workload's output, from the keeps that were released the secret")
    for p in view["placements"]:
        result = p["result"] or {}
        out = base64.b64decode(result.get("stdout", "")).decode(errors="replace").strip()
        step.say(f"replica {p['replica']} on {p['host']}: {p['state']}: {out}")
    first = next(p for p in view["placements"] if p["result"])
    step.say("isolation report of replica " + str(first["replica"]) + ":")
    for line in render_isolation(first["result"]["isolation"], "       "):
        print(line)

    accepted = next(d for d in view["decisions"] if d["verdict"] == "affirming")
    step(f"prove ledger entry #{accepted['ledger_index']} offline: only the log's public key")
    vkey = api.ledger_key()
    bundle = api.ledger_bundle(accepted["ledger_index"])
    verified = verify_bundle(bundle, Verifier.parse(vkey))
    step.say(f"log key {vkey.split('+')[0]}; checkpoint of {verified.checkpoint.size} entries")
    step.say(
        f"inclusion proof verified: entry #{verified.index} = {verified.entry['kind']} "
        f"{verified.entry['verdict']} on {verified.entry['host']}"
    )
    stored = b"".join(p.read_bytes() for p in (tmp / "control").glob("elsewhere.db*"))
    leaked = secret in stored
    step.say(f"secret bytes in the database file: {'FOUND (bug!)' if leaked else 'none'}")

    refused = {d["host"] for d in view["decisions"] if d["verdict"] == "contraindicated"}
    ok = (
        all(p["state"] == "completed" and p["host"] == "genoa" for p in view["placements"])
        and {"milan", "nil"} <= refused
        and not leaked
    )
    step(
        "done: "
        + (
            "Milan and nil refused, Genoa accepted, secret released only there"
            if ok
            else "UNEXPECTED OUTCOME (see above)"
        )
    )
    return EXIT_OK if ok else EXIT_REFUSED


def _wait(api: Client, deployment: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = api.deployment(deployment)
        if all(p["state"] in ("completed", "failed") for p in view["placements"]):
            return view
        if time.monotonic() > deadline:
            return view
        time.sleep(0.1)
