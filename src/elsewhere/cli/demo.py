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
import unicodedata
from pathlib import Path
from typing import Any

from elsewhere.attest import make_attester
from elsewhere.claims import EMULATED_WARNING, NIL_WARNING
from elsewhere.cli.commons_demo import run_commons_demo
from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.narrator import Narrator
from elsewhere.cli.results import render_isolation, risk_line, word
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.serve.server import ThreadedServer
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.auth import Kind, create_credential
from elsewhere.control.tenancy.deployments import list_deployments
from elsewhere.control.tenancy.picture import deployment_snapshot
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.diagram.deployment_scene import deployment_scene
from elsewhere.diagram.dot import to_svg
from elsewhere.diagram.table import to_table
from elsewhere.errors import ConfigError, InputError
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import Client, b64
from elsewhere.i18n import _, localize, money
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
    demo = commands.add_parser("demo", help=_("run the end-to-end demonstration (emulated)"))
    demo.add_argument("--replicas", type=int, default=3)
    demo.set_defaults(handler=run_demo)
    sub = demo.add_subparsers(title="other demonstrations", metavar="DEMO")
    sub.add_parser(
        "commons", help="a data commons: three agencies, three custodians (emulated)"
    ).set_defaults(handler=run_commons_demo)


def run_demo(args: argparse.Namespace) -> int:
    logging.getLogger("elsewhere").setLevel(logging.ERROR)
    if not WAT.is_file():
        raise ConfigError("demo", str(WAT), _("example workload not found (run from a checkout)"))
    print("=" * 78)
    print(_("ELSEWHERE DEMO — EVERYTHING HERE IS EMULATED OR NIL: NO HARDWARE PROTECTION."))
    print(_("The emulated platforms sign real-format SEV-SNP reports with keys on this disk;"))
    print(_("the policy allows emulated evidence explicitly only because there is no TEE here."))
    print("=" * 78)
    with tempfile.TemporaryDirectory(prefix="elsewhere-demo-") as directory:
        return _run(Path(directory), args.replicas, Narrator())


def _run(tmp: Path, replicas: int, step: Narrator) -> int:
    step(_("start the control plane: SQLite in a temporary directory, uvicorn on loopback"))
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
        step.say(_("API at {url} (OpenAPI at {url}/docs)").format(url=server.url))
        step.say(
            _("the control plane trusts {count} EMULATED roots, because we told it to").format(
                count=len(anchors)
            )
        )
        step(_("start three hosts and register them with their host tokens"))
        for name, _kind, gen in HOSTS:
            agent = HostAgent(Client(server.url, host_tokens[name]), attesters[name], name=name)
            agent.register()
            threading.Thread(target=agent.run, args=(0.1,), daemon=True).start()
            agents.append(agent)
            label = (
                _("emulated AMD {generation} (SEV-SNP)").format(generation=gen)
                if gen
                else _("nil (no TEE)")
            )
            warning = localize(EMULATED_WARNING if gen else NIL_WARNING)
            step.say(f"{name:6} {_pad(label, 28)} — {warning}")
        code = _tenant_flow(tmp, server.url, tenant.token, replicas, step)
        _draw(cp, tenant.id, step)
        return code
    finally:
        step(_("tear down: stop hosts and the control plane, delete the temporary directory"))
        for agent in agents:
            agent.stop()
        server.stop()
        cp.close()


def _tenant_flow(tmp: Path, url: str, token: str, replicas: int, step: Narrator) -> int:
    api = Client(url, token)
    secret = f"greeting-key-{secrets.token_hex(8)}".encode()
    step(_("tenant acme uploads the workload, stores its secret and sets its policy"))
    uploaded = api.upload_workload(wat_to_wasm(WAT.read_text()), "secret-greeter.wasm")
    step.say(
        _("workload secret-greeter.wasm = {digest}…").format(
            digest="sha384:" + uploaded["digest"][:32]
        )
    )
    api.put_secret("greeting-key", secret)
    step.say(_("secret greeting-key: {size} bytes, AES-256-GCM at rest").format(size=len(secret)))
    policy = api.set_policy(POLICY)
    step.say(_("policy: refuse AMD Milan; no nil — {digest}…").format(digest=policy["digest"][:24]))
    step.say(_("POLICY ALLOWS EMULATED EVIDENCE FOR THIS DEMO ONLY (no hardware here)"))
    budget = api.json("PUT", "/v1/risk-budget", json=BUDGET)["budget"]
    step.say(
        _("risk budget: {amount} per {per}").format(
            amount=money(budget["amount"], budget["currency"]), per=word(budget["per"])
        )
    )

    step(
        _(
            "deploy {replicas} replicas, impact {impact}; "
            "each host that gets one must attest its keep"
        ).format(replicas=replicas, impact=money(IMPACT["amount"], IMPACT["currency"]))
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
    step(_("the key broker's decisions (evidence → verify → binding → policy → ledger)"))
    for d in view["decisions"]:
        if d["verdict"] == "affirming":
            step.say(
                f"{d['host']:6} "
                + _(
                    "ACCEPTED: secret released, HPKE-wrapped to the keep's key [ledger #{index}]"
                ).format(index=d["ledger_index"])
            )
        else:
            step.say(
                f"{d['host']:6} "
                + _("REFUSED because {reasons} [ledger #{index}]").format(
                    reasons="; ".join(localize(r) for r in d["reasons"]), index=d["ledger_index"]
                )
            )
    placed = next((p for p in view["placements"] if p["host"] == "genoa" and p["risk"]), None)
    if placed is not None:
        step(_("the risk of the accepted placement (emulated: priced as unprotected)"))
        step.say(f"genoa: {risk_line(placed['risk'])}")
    step(_("the workload's output, from the keeps that were released the secret"))
    for p in view["placements"]:
        result = p["result"] or {}
        out = base64.b64decode(result.get("stdout", "")).decode(errors="replace").strip()
        step.say(
            _("replica {replica} on {host}: {state}: {output}").format(
                replica=p["replica"], host=p["host"], state=word(p["state"]), output=out
            )
        )
    first = next(p for p in view["placements"] if p["result"])
    step.say(_("isolation report of replica {replica}:").format(replica=first["replica"]))
    for line in render_isolation(first["result"]["isolation"], "       "):
        print(line)

    accepted = next(d for d in view["decisions"] if d["verdict"] == "affirming")
    step(
        _("prove ledger entry #{index} offline: only the log's public key").format(
            index=accepted["ledger_index"]
        )
    )
    vkey = api.ledger_key()
    bundle = api.ledger_bundle(accepted["ledger_index"])
    verified = verify_bundle(bundle, Verifier.parse(vkey))
    step.say(
        _("log key {key}; checkpoint of {size} entries").format(
            key=vkey.split("+")[0], size=verified.checkpoint.size
        )
    )
    step.say(
        _("inclusion proof verified: entry #{index} = {kind} {verdict} on {host}").format(
            index=verified.index,
            kind=verified.entry["kind"],
            verdict=word(verified.entry["verdict"]),
            host=verified.entry["host"],
        )
    )
    stored = b"".join(p.read_bytes() for p in (tmp / "control").glob("elsewhere.db*"))
    leaked = secret in stored
    step.say(
        _("secret bytes in the database file: {found}").format(
            found=_("FOUND (bug!)") if leaked else _("none")
        )
    )

    refused = {d["host"] for d in view["decisions"] if d["verdict"] == "contraindicated"}
    ok = (
        all(p["state"] == "completed" and p["host"] == "genoa" for p in view["placements"])
        and {"milan", "nil"} <= refused
        and not leaked
    )
    step(
        _("done: Milan and nil refused, Genoa accepted, secret released only there")
        if ok
        else _("done: UNEXPECTED OUTCOME (see above)")
    )
    return EXIT_OK if ok else EXIT_REFUSED


def _draw(cp: ControlPlane, tenant_id: str, step: Narrator) -> None:
    """The deployment diagram of this run, written where it outlives the temporary directory."""
    with read(cp.engine) as conn:
        deployment = list_deployments(conn, tenant_id)[-1]["id"]
    snapshot = deployment_snapshot(cp.engine, cp.ledger, tenant_id, deployment)
    if snapshot is None:  # the tenant's own deployment, just listed: cannot happen
        return
    scene = deployment_scene(snapshot)
    path = Path(tempfile.gettempdir()) / f"elsewhere-demo-{deployment}.svg"
    try:
        content = to_svg(scene)
    except InputError:  # no Graphviz here: the text alternative, which needs none
        path, content = path.with_suffix(".md"), to_table(scene)
    path.write_text(content, encoding="utf-8")
    step(
        _("the deployment diagram of this run (EMULATED: no hardware protection): {path}").format(
            path=path
        )
    )


def _pad(text: str, width: int) -> str:
    """Left-justified to `width` terminal columns (a CJK character takes two)."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def _wait(api: Client, deployment: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = api.deployment(deployment)
        if all(p["state"] in ("completed", "failed") for p in view["placements"]):
            return view
        if time.monotonic() > deadline:
            return view
        time.sleep(0.1)
