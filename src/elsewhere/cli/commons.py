"""`elsewhere commons`: a party's side of a data commons (docs/commons.md).

    party add NAME          make a party's keys (0600 file); print its public part
    roster                  assemble the roster from parties' and custodians' public parts
    dataset add FILE        encrypt on this machine; deposit one sealed key share per custodian
    propose                 write a proposal (analysis digest, datasets, output rule, expiry)
    approve / veto          sign a proposal's digest (a veto goes to every custodian at once)
    run                     run an approved proposal in a local keep (emulated attester here)
    open                    open this party's sealed result
    witness                 have every custodian cosign the others' checkpoints
    audit --party P         verify every custodian's log: signature, cosignatures, entries

Exit codes: 0 done, 1 refused (approvals, veto, evidence, budget) or audit failed, 2 unusable input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from elsewhere.attest.registry import make_attester
from elsewhere.claims import EMULATED_WARNING, NIL_WARNING
from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.commons.audit import audit, witness_round
from elsewhere.commons.canon import unb64
from elsewhere.commons.client import CustodianClient
from elsewhere.commons.datasets import encrypt_dataset
from elsewhere.commons.proposals import Decision, Proposal, Verb, sign_decision
from elsewhere.commons.registry_client import RegistryClient
from elsewhere.commons.roster import PartyKeys, Roster
from elsewhere.commons.rules import AGGREGATE, OutputRule
from elsewhere.commons.session import EncryptedDataset, open_result, run_proposal
from elsewhere.crypto.binding import workload_digest
from elsewhere.errors import InputError
from elsewhere.privatefile import read_private, write_private


def _json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise InputError(what, path, error.strerror or "unreadable") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(what, path, f"not JSON: {error}") from None


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InputError(what, path, error.strerror or "unreadable") from None


def _roster(args: argparse.Namespace) -> Roster:
    return Roster.from_json(_json(args.roster, "roster"))


def _keys(args: argparse.Namespace) -> PartyKeys:
    data = read_private(Path(args.party_key), what="party key")
    try:
        return PartyKeys.from_json(json.loads(data))
    except json.JSONDecodeError as error:
        raise InputError("party key", args.party_key, f"not JSON: {error.msg}") from None


def _clients(args: argparse.Namespace, roster: Roster) -> list[CustodianClient]:
    ca = Path(args.ca) if args.ca else None
    return [CustodianClient(c.name, c.url, ca) for c in roster.custodians]


def _registry(args: argparse.Namespace) -> RegistryClient | None:
    url = getattr(args, "control_plane", None)
    return RegistryClient(url, getattr(args, "token", None)) if url else None


def _out(doc: Any, path: str | None) -> None:
    text = json.dumps(doc, indent=2, sort_keys=True)
    if path:
        Path(path).write_text(text + "\n")
    else:
        print(text)


def cmd_party_add(args: argparse.Namespace) -> int:
    keys = PartyKeys.generate(args.name)
    write_private(Path(args.key_file), json.dumps(keys.to_json()).encode(), what="party key")
    _out(keys.public.to_json(), args.out)
    return EXIT_OK


def cmd_roster(args: argparse.Namespace) -> int:
    doc = {
        "commons": args.commons,
        "approvals_needed": args.approvals,
        "shares_needed": args.shares,
        "parties": [_json(p, "party public part") for p in args.party],
        "custodians": [_json(c, "custodian public part") for c in args.custodian],
    } | ({"control_plane_log_key": args.control_plane_key} if args.control_plane_key else {})
    roster = Roster.from_json(doc)
    registry = _registry(args)
    if registry is not None:
        registry.put_roster(roster.to_json())
        print(f"roster published at {args.control_plane}", file=sys.stderr)
    _out(roster.to_json(), args.out)
    print(f"roster {roster.digest}", file=sys.stderr)
    return EXIT_OK


def cmd_dataset_add(args: argparse.Namespace) -> int:
    roster, keys = _roster(args), _keys(args)
    sealed = encrypt_dataset(keys, roster, args.id, _read(args.file, "dataset"), args.budget)
    for deposit, client in zip(sealed.deposits, _clients(args, roster), strict=True):
        client.post("/v1/deposits", deposit.to_json())
    Path(args.out).write_bytes(sealed.ciphertext)
    registry = _registry(args)
    if registry is not None:
        registry.publish(keys, sealed.dataset_id, sealed.ciphertext, sealed.digest)
    print(
        f"dataset {sealed.dataset_id}: {sealed.digest}, {len(sealed.deposits)} shares deposited, "
        f"{roster.shares_needed} needed; the key is nowhere else"
    )
    return EXIT_OK


def cmd_propose(args: argparse.Namespace) -> int:
    proposal = Proposal(
        id=args.id,
        analysis_digest=workload_digest(_read(args.analysis, "analysis")).hex(),
        datasets=tuple(sorted(set(args.dataset))),
        rule=OutputRule(AGGREGATE, args.min_group, args.epsilon, args.sensitivity),
        expires_at=int(time.time()) + args.expires_in,
        proposer=args.proposer,
    )
    Proposal.from_json(proposal.to_json())  # the same checks a custodian makes
    registry = _registry(args)
    if registry is not None:
        if not args.party_key:
            raise InputError("propose", "--party-key", "the proposer's key signs its proposal")
        registry.propose(proposal, sign_decision(_keys(args), Verb.APPROVE, proposal))
    _out(proposal.to_json(), args.out)
    print(f"proposal {proposal.id}: digest {proposal.digest.hex()}", file=sys.stderr)
    return EXIT_OK


def cmd_decide(args: argparse.Namespace) -> int:
    proposal = Proposal.from_json(_json(args.proposal, "proposal"))
    verb = Verb(args.verb)
    decision = sign_decision(_keys(args), verb, proposal)
    if verb is Verb.VETO and args.roster:
        roster = _roster(args)
        for client in _clients(args, roster):
            client.post(
                "/v1/vetoes", {"proposal": proposal.to_json(), "decision": decision.to_json()}
            )
            print(f"veto recorded at {client.name}", file=sys.stderr)
    registry = _registry(args)
    if registry is not None:
        registry.decide(decision, proposal.id)
    _out(decision.to_json(), args.out)
    return EXIT_OK


def _from_registry(
    registry: RegistryClient, proposal_id: str
) -> tuple[Proposal, list[Decision], list[EncryptedDataset]]:
    view = registry.proposal(proposal_id)
    proposal = Proposal.from_json(view["proposal"])
    datasets = []
    for dataset_id in proposal.datasets:
        doc = registry.dataset(dataset_id)
        datasets.append(
            EncryptedDataset(
                dataset_id, doc["owner"], unb64("dataset", dataset_id, doc["ciphertext"])
            )
        )
    return proposal, [Decision.from_json(d) for d in view["decisions"]], datasets


def cmd_run(args: argparse.Namespace) -> int:
    roster = _roster(args)
    registry = _registry(args)
    if registry is not None:  # PROPOSAL is its id; everything else comes from the registry
        proposal, decisions, datasets = _from_registry(registry, args.proposal)
    else:
        proposal = Proposal.from_json(_json(args.proposal, "proposal"))
        decisions = [Decision.from_json(_json(d, "decision")) for d in args.decision]
        datasets = _local_datasets(args.data)
    attester = make_attester(args.attester, Path(args.attest_dir) if args.attest_dir else None)
    warning = NIL_WARNING if args.attester == "nil" else EMULATED_WARNING
    if args.attester.startswith("emulated") or args.attester == "nil":
        print(f"keep attester {args.attester}: {warning}", file=sys.stderr)
    result = run_proposal(
        roster,
        _clients(args, roster),
        proposal,
        decisions,
        datasets,
        _read(args.analysis, "analysis"),
        attester,
    )
    if registry is not None:
        registry.post_result(result)
    _out(result.to_json(), args.out)
    return EXIT_OK


def _local_datasets(items: list[str]) -> list[EncryptedDataset]:
    datasets = []
    for item in items:
        dataset_id, _, rest = item.partition("=")
        owner, _, path = rest.partition(":")
        if not path:
            raise InputError("--data", item, "give DATASET_ID=OWNER:PATH")
        datasets.append(EncryptedDataset(dataset_id, owner, _read(path, "sealed dataset")))
    return datasets


def cmd_open(args: argparse.Namespace) -> int:
    keys = _keys(args)
    registry = _registry(args)
    if registry is not None:  # RESULTS and --proposal are the proposal's id
        result = registry.result(args.results)
        proposal = Proposal.from_json(registry.proposal(args.results)["proposal"])
    else:
        if not args.proposal:
            raise InputError("open", "--proposal", "give the proposal file (or --control-plane)")
        result = _json(args.results, "results")
        proposal = Proposal.from_json(_json(args.proposal, "proposal"))
    sealed = result.get("sealed", {}).get(keys.name) if isinstance(result, dict) else None
    if sealed is None:
        raise InputError("results", args.results, f"nothing sealed to {keys.name}")
    _out(open_result(keys, proposal, unb64("results", keys.name, sealed)), args.out)
    return EXIT_OK


def cmd_witness(args: argparse.Namespace) -> int:
    roster = _roster(args)
    problems = witness_round(roster, _clients(args, roster), _registry(args))
    for line in problems:
        print(f"refused: {line}")
    return EXIT_REFUSED if problems else EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    roster = _roster(args)
    report = audit(roster, args.party, _clients(args, roster), _registry(args))
    if args.json:
        _out(report.to_json(), None)
        return EXIT_OK if report.ok else EXIT_REFUSED
    for log in report.logs:
        state = "ok" if not log.problems else "FAILED: " + "; ".join(log.problems)
        print(
            f"{log.custodian}: {log.size} entries, "
            f"cosigned by {', '.join(log.cosigners) or 'nobody'}; "
            f"{len(report.mine(log))} about {args.party}; {state}"
        )
    return EXIT_OK if report.ok else EXIT_REFUSED


def register(commands: Any) -> None:
    group = commands.add_parser(
        "commons", help="a data commons: parties, datasets, proposals, audit"
    )
    sub = group.add_subparsers(title="commons commands", metavar="COMMAND")

    def common(p: argparse.ArgumentParser, *, key: bool = False, roster: bool = True) -> None:
        if roster:
            p.add_argument("--roster", required=True)
            p.add_argument("--ca", help="CA file the custodians' TLS certificates chain to")
        if key:
            p.add_argument("--party-key", required=True, help="this party's key file (0600)")
        p.add_argument("--out", help="write JSON here (default: stdout)")
        p.add_argument(
            "--control-plane", metavar="URL", help="also use the control plane's commons registry"
        )

    party = sub.add_parser("party", help="party keys").add_subparsers(
        title="party", metavar="COMMAND"
    )
    p = party.add_parser("add", help="make a party's keys; print its public part")
    p.add_argument("name")
    p.add_argument("--key-file", required=True)
    common(p, roster=False)
    p.set_defaults(handler=cmd_party_add)

    p = sub.add_parser("roster", help="assemble the roster (JSON)")
    p.add_argument("--commons", required=True)
    p.add_argument("--approvals", type=int, required=True, help="m: approvals needed")
    p.add_argument("--shares", type=int, required=True, help="k: custodian shares needed")
    p.add_argument("--party", action="append", default=[], metavar="JSON")
    p.add_argument("--custodian", action="append", default=[], metavar="JSON")
    p.add_argument(
        "--control-plane-key", help="the control plane's ledger vkey (its log is witnessed)"
    )
    p.add_argument("--token", help="operator token, to publish the roster with --control-plane")
    common(p, roster=False)
    p.set_defaults(handler=cmd_roster)

    dataset = sub.add_parser("dataset", help="datasets").add_subparsers(
        title="dataset", metavar="COMMAND"
    )
    p = dataset.add_parser("add", help="encrypt FILE here and deposit its key shares")
    p.add_argument("file")
    p.add_argument("--id", required=True)
    p.add_argument("--budget", type=float, default=1.0, help="total ε this dataset may spend")
    common(p, key=True)
    p.set_defaults(handler=cmd_dataset_add)

    p = sub.add_parser("propose", help="write a proposal")
    p.add_argument("--id", required=True)
    p.add_argument("--analysis", required=True, help="the .wasm module")
    p.add_argument("--dataset", action="append", required=True)
    p.add_argument("--proposer", required=True)
    p.add_argument("--min-group", type=int, default=10)
    p.add_argument("--epsilon", type=float, default=0.0)
    p.add_argument("--sensitivity", type=int, default=1)
    p.add_argument("--expires-in", type=int, default=3600, metavar="SECONDS")
    p.add_argument("--party-key", help="the proposer's key, to publish with --control-plane")
    common(p, roster=False)
    p.set_defaults(handler=cmd_propose)

    for verb in Verb:
        p = sub.add_parser(verb.value, help=f"sign ({verb.value}) a proposal's digest")
        p.add_argument("proposal")
        p.add_argument("--party-key", required=True)
        p.add_argument("--roster", help="with veto: send it to every custodian")
        p.add_argument("--ca")
        p.add_argument("--out")
        p.add_argument("--control-plane", metavar="URL", help="publish it in the registry too")
        p.set_defaults(handler=cmd_decide, verb=verb.value)

    p = sub.add_parser("run", help="run an approved proposal in a local keep")
    p.add_argument("proposal")
    p.add_argument("--decision", action="append", default=[], metavar="JSON")
    p.add_argument("--data", action="append", default=[], metavar="ID=OWNER:PATH")
    p.add_argument("--analysis", required=True)
    p.add_argument("--attester", default="emulated-snp")
    p.add_argument("--attest-dir")
    common(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("open", help="open this party's sealed result")
    p.add_argument("results")
    p.add_argument("--proposal", help="the proposal file (not needed with --control-plane)")
    common(p, key=True, roster=False)
    p.set_defaults(handler=cmd_open)

    p = sub.add_parser("witness", help="custodians cosign each other's checkpoints")
    common(p)
    p.set_defaults(handler=cmd_witness)

    p = sub.add_parser("audit", help="verify every custodian's log, as one party")
    p.add_argument("--party", required=True)
    p.add_argument("--json", action="store_true", help="print one JSON document (docs/cli.md)")
    common(p)
    p.set_defaults(handler=cmd_audit)
