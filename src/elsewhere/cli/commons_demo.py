"""`elsewhere demo commons`: three agencies, three custodians, one joint analysis, narrated.

Everything runs on this machine: the custodians are separate processes serving TLS on
loopback, the keep attests with an EMULATED SEV-SNP platform. EMULATED EVIDENCE GIVES NO
HARDWARE PROTECTION, and custodians on one disk are not independent: this shows the protocol
and its refusals, not the guarantees of a real deployment (docs/commons.md).
"""

from __future__ import annotations

import argparse
import base64
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from elsewhere.attest.base import Attester
from elsewhere.attest.registry import make_attester
from elsewhere.claims import EMULATED_WARNING
from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.narrator import Narrator
from elsewhere.commons.audit import audit, witness_round
from elsewhere.commons.canon import b64
from elsewhere.commons.datasets import decrypt_dataset, encrypt_dataset
from elsewhere.commons.proposals import Decision, Proposal, Verb, sign_decision
from elsewhere.commons.registry_client import RegistryClient
from elsewhere.commons.rules import AGGREGATE, OutputRule
from elsewhere.commons.session import EncryptedDataset, open_result, run_proposal
from elsewhere.commons.shares import Share, join_key
from elsewhere.commons.wire import SHARE_INFO, share_aad
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.serve.server import ThreadedServer
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind, create_credential
from elsewhere.crypto.binding import workload_digest
from elsewhere.crypto.hpke import PrivateKey
from elsewhere.custodian.local import LocalCommons, build, started
from elsewhere.errors import ConfigError, ElsewhereError
from elsewhere.keep.wat import wat_to_wasm

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "commons"
POLICY = Path(__file__).resolve().parents[3] / "examples" / "policy" / "demo-emulated.toml"
AGENCIES = ("north", "central", "south")
CUSTODIANS = ("custodian-north", "custodian-central", "custodian-south")


def run_commons_demo(_: argparse.Namespace) -> int:
    logging.getLogger("elsewhere").setLevel(logging.ERROR)
    if not (EXAMPLE / "cross-border.wat").is_file():
        raise ConfigError(
            "demo commons", str(EXAMPLE), "example analysis not found (run from a checkout)"
        )
    print("=" * 78)
    print("ELSEWHERE COMMONS DEMO — THE KEEP IS EMULATED: NO HARDWARE PROTECTION.")
    print("Custodians run here as separate TLS processes on one machine: that shows the")
    print("protocol, not the independence a real commons needs (custodians run by each party).")
    print("=" * 78)
    with tempfile.TemporaryDirectory(prefix="elsewhere-commons-") as directory:
        return _run(Path(directory), Narrator())


def _run(tmp: Path, step: Narrator) -> int:
    step("the operator starts the control plane (SQLite, uvicorn on loopback): the public registry")
    cp = ControlPlane.open(ControlConfig.for_dir(tmp / "control"))
    with write(cp.engine) as conn:
        token = create_credential(conn, Kind.OPERATOR, "commons operator")
    server = ThreadedServer(cp).start()
    try:
        step.say(f"API at {server.url}; its ledger key {cp.ledger.verifier.vkey()[:40]}…")
        return _commons(tmp, cp, RegistryClient(server.url, token), step)
    finally:
        server.stop()
        cp.close()


def _commons(tmp: Path, cp: ControlPlane, registry: RegistryClient, step: Narrator) -> int:
    step("three agencies make keys; three custodians (one per agency) make theirs")
    genoa = make_attester("emulated-snp", tmp / "genoa", generation="Genoa")
    milan = make_attester("emulated-snp", tmp / "milan", generation="Milan")
    local = build(
        tmp / "commons",
        AGENCIES,
        CUSTODIANS,
        approvals_needed=2,
        shares_needed=2,
        policy_text=POLICY.read_text(),
        attesters=[genoa, milan],
        control_plane_log_key=cp.ledger.verifier.vkey(),
    )
    step.say(
        f"roster {local.roster.digest}: m = 2 approvals (every dataset owner among them), "
        "k = 2 of 3 shares; a custodian releases only once 2 peers answered its veto query"
    )
    registry.put_roster(local.roster.to_json())
    step.say("the operator publishes the roster; each custodian loaded its own copy")
    with started(local):
        step.say("custodians listening: " + ", ".join(r.url for r in local.running.values()))
        return _flow(local, cp, registry, genoa, milan, step)


def _flow(
    local: LocalCommons,
    cp: ControlPlane,
    registry: RegistryClient,
    genoa: Attester,
    milan: Attester,
    step: Narrator,
) -> int:
    clients = local.clients()
    outcomes: list[bool] = []

    def deposit(tag: str, budget: float) -> list[EncryptedDataset]:
        out = []
        for name in AGENCIES:
            data = (EXAMPLE / f"{name}.csv").read_bytes()
            sealed = encrypt_dataset(
                local.parties[name], local.roster, f"{name}-{tag}", data, budget
            )
            for d, client in zip(sealed.deposits, clients, strict=True):
                client.post("/v1/deposits", d.to_json())
            registry.publish(
                local.parties[name], sealed.dataset_id, sealed.ciphertext, sealed.digest
            )
            out.append(EncryptedDataset(sealed.dataset_id, name, sealed.ciphertext))
        return out

    module = wat_to_wasm((EXAMPLE / "cross-border.wat").read_text())

    def proposal(
        pid: str, datasets: list[EncryptedDataset], epsilon: float, analysis: bytes = module
    ) -> Proposal:
        return Proposal(
            pid,
            workload_digest(analysis).hex(),
            tuple(sorted(d.dataset_id for d in datasets)),
            OutputRule(AGGREGATE, 10, epsilon, 1),
            int(time.time()) + 600,
            "north",
        )

    def approvals(p: Proposal, who: tuple[str, ...] = AGENCIES) -> list[Decision]:
        return [sign_decision(local.parties[n], Verb.APPROVE, p) for n in who]

    def refused(label: str, attempt: Callable[[], object]) -> None:
        try:
            attempt()
        except ElsewhereError as error:
            step.say(f"REFUSED ({label}): {error.message[:230]}")
            outcomes.append(True)
            return
        step.say(f"UNEXPECTED: {label} was not refused")
        outcomes.append(False)

    step(
        "each agency encrypts its case counts on its own machine "
        "and deposits one key share per custodian; the ciphertext goes to the registry"
    )
    datasets = deposit("cases", 1.0)
    for d in datasets:
        step.say(
            f"{d.dataset_id}: {len(d.ciphertext)} bytes AES-256-GCM; "
            "key split 2-of-3, each share HPKE-sealed"
        )

    step("north proposes the joint analysis; central and south approve, through the registry")
    p = proposal("cross-border-1", datasets, 0.5)
    signed = approvals(p)
    registry.propose(p, signed[0])
    for decision in signed[1:]:
        registry.decide(decision, p.id)
    view = registry.proposal(p.id)
    step.say(f"registry: approved by {', '.join(view['approvers'])}; it decides nothing itself")

    step("the keep takes the proposal, approvals and ciphertexts from the registry and runs")
    published = {i: registry.dataset(i) for i in p.datasets}
    fetched = [
        EncryptedDataset(i, doc["owner"], base64.b64decode(doc["ciphertext"]))
        for i, doc in published.items()
    ]
    decisions = [Decision.from_json(d) for d in view["decisions"]]
    result = run_proposal(local.roster, clients, p, decisions, fetched, module, genoa)
    registry.post_result(result)
    stored = registry.result(p.id)
    doc = open_result(local.parties["south"], p, base64.b64decode(stored["sealed"]["south"]))
    step.say(f"keep: {EMULATED_WARNING}; shares released by {', '.join(result.released_by)}")
    step.say(
        f"{len(doc['cells'])} cross-border cells released with noise (ε = 0.5 per dataset), "
        f"{doc['suppressed']} cells under 10 cases suppressed by the runtime"
    )
    step.say(
        "first cells, as south opens them: "
        + ", ".join(f"{c['key']}={c['value']}" for c in doc["cells"][:5])
    )
    outcomes.append(bool(doc["cells"]) and doc["suppressed"] > 0)
    step.say(
        "the keep signed its result digest with the Ed25519 key bound in its evidence; "
        "each custodian checked it against that evidence before logging it"
    )
    forged_report = {
        "proposal_id": p.id,
        "result_digest": "sha256:" + "00" * 32,
        "suppressed": 0,
        "signature": b64(Ed25519PrivateKey.generate().sign(b"forged")),
    }
    refused(
        "a result report not signed by the keep",
        lambda: clients[0].post("/v1/outputs", forged_report),
    )

    step("refusals, each with the custodians' reason")
    p2 = proposal("too-few", datasets, 0.1)
    refused(
        "too few approvals",
        lambda: run_proposal(
            local.roster, clients, p2, approvals(p2, ("north",)), datasets, module, genoa
        ),
    )
    changed = bytearray(module)
    changed[-1] ^= 1
    p3 = proposal("one-byte", datasets, 0.1)
    refused(
        "analysis differs by one byte",
        lambda: run_proposal(
            local.roster, clients, p3, approvals(p3), datasets, bytes(changed), genoa
        ),
    )
    refused("raw rows", lambda: OutputRule("raw", 10, 0.0, 1))
    p4 = proposal("on-milan", datasets, 0.1)
    refused(
        "keep on a refused CPU",
        lambda: run_proposal(local.roster, clients, p4, approvals(p4), datasets, module, milan),
    )
    p5 = proposal("vetoed", datasets, 0.1)
    veto = sign_decision(local.parties["central"], Verb.VETO, p5)
    clients[0].post("/v1/vetoes", {"proposal": p5.to_json(), "decision": veto.to_json()})
    step.say(
        f"central vetoes 'vetoed' and reaches only {clients[0].name}; it forwards the veto "
        "to its peers, and each custodian asks its peers before releasing"
    )
    refused(
        "after a veto, asking only the custodians central did not reach",
        lambda: run_proposal(local.roster, clients[1:], p5, approvals(p5), datasets, module, genoa),
    )
    p6 = proposal("spend-rest", datasets, 0.5)
    run_proposal(local.roster, clients, p6, approvals(p6), datasets, module, genoa)
    step.say("a second run spends the remaining ε (0.5 of 1.0)")
    p7 = proposal("over-budget", datasets, 0.5)
    refused(
        "ε budget ran out",
        lambda: run_proposal(local.roster, clients, p7, approvals(p7), datasets, module, genoa),
    )

    step(
        "the operator tries to read the data with what it holds: "
        "ciphertexts, deposits, its own keys"
    )
    sealed = encrypt_dataset(local.parties["north"], local.roster, "north-probe", b"0,0,1\n", 0.0)
    operator_key = PrivateKey.generate()
    refused(
        "operator key opens a share",
        lambda: operator_key.open(
            sealed.deposits[0].wrapped_share,
            info=SHARE_INFO,
            aad=share_aad("north-probe", sealed.deposits[0].custodian),
        ),
    )
    one = Share(1, bytes(32))
    refused("one custodian's share with the operator", lambda: join_key([one], 2))
    refused(
        "the control plane's key-encryption key as a data key",
        lambda: decrypt_dataset(
            cp.kek.key, datasets[0].dataset_id, "north", datasets[0].ciphertext
        ),
    )
    files = [*(local.root / "custodians").rglob("*.db*"), *cp.config.data_dir.rglob("*.db*")]
    stored = b"".join(f.read_bytes() for f in files)
    row = (EXAMPLE / "north.csv").read_bytes().splitlines()[1]
    found = b"region,week,cases" in stored or row in stored
    step.say(
        f"plaintext rows in the operator's and custodians' databases ({len(files)} files): "
        + ("FOUND (bug!)" if found else "none")
    )
    outcomes.append(not found)

    step(
        "witnesses: each custodian cosigns the others' and the control plane's checkpoints; "
        "then each agency audits alone"
    )
    problems = witness_round(local.roster, clients, registry)
    outcomes.append(not problems)
    for name in AGENCIES:
        report = audit(local.roster, name, clients, registry)
        lines = [
            f"{log.custodian}: {log.size} entries, cosigned by {len(log.cosigners)}, "
            f"{len(report.mine(log))} about {name}"
            for log in report.logs
        ]
        step.say(f"{name}: {'verified' if report.ok else 'FAILED'} — " + "; ".join(lines))
        outcomes.append(report.ok)

    ok = all(outcomes)
    step(
        "done: "
        + (
            "joint result released under the rules; every refusal held; every audit verified"
            if ok
            else "UNEXPECTED OUTCOME (see above)"
        )
    )
    return EXIT_OK if ok else EXIT_REFUSED
