"""`elsewhere policy check|eval`: validate a policy file; verify evidence and judge it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from elsewhere.cli.evidence import options_from_args
from elsewhere.cli.exitcodes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REFUSED
from elsewhere.cli.inputs import read_input
from elsewhere.cli.table import render_pairs, render_table
from elsewhere.errors import InputError
from elsewhere.evidence import verify_evidence
from elsewhere.i18n import _, localize, ngettext
from elsewhere.policy.advisories import AdvisorySet, parse_feed
from elsewhere.policy.evaluate import Decision, compile_policy
from elsewhere.policy.load import PolicyError, load_policy
from elsewhere.policy.model import Policy
from elsewhere.policy.store import AdvisoryStore


def register(commands: Any) -> None:
    group = commands.add_parser("policy", help="check trust policies and apply them to evidence")
    sub = group.add_subparsers(title="policy commands", metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="validate a policy file",
        description="Validate a policy file and print its name, revision and digest. Every "
        "problem is listed as FILE:LINE: KEY: REASON. Exit 0 valid, 2 not valid.",
    )
    check.add_argument("file", metavar="FILE", help="policy file (TOML)")
    check.add_argument("--json", action="store_true", help="print the normal form and digest")
    check.set_defaults(handler=run_check)

    ev = sub.add_parser(
        "eval",
        help="verify evidence and decide on it under a policy",
        description="Verify each piece of evidence offline, then apply the policy and list "
        "every rule it fails. Exit 0 all accepted, 1 any refused, 2 unusable input.",
    )
    ev.add_argument("policy", metavar="POLICY", help="policy file (TOML)")
    ev.add_argument("evidence", metavar="EVIDENCE", nargs="+", help="evidence files")
    ev.add_argument("--vcek", "--vlek", dest="vek", metavar="CERT", help="SEV-SNP VCEK or VLEK")
    ev.add_argument("--chain", action="append", default=[], metavar="PEM", help="ASK/ARK certs")
    ev.add_argument("--certs", metavar="FILE", help="SEV certificate table / auxblob")
    ev.add_argument(
        "--collateral",
        metavar="PATH",
        help="DCAP collateral (default: the local cache of 'elsewhere collateral import')",
    )
    ev.add_argument(
        "--trust-emulated-root",
        action="append",
        default=[],
        metavar="PEM",
        help="trust this EMULATED root (no hardware protection; the policy must allow it)",
    )
    ev.add_argument("--at", metavar="TIME", help="verify and decide at this time (default now)")
    ev.add_argument("--report-data", metavar="HEX", help="the report_data the evidence must bind")
    ev.add_argument(
        "--advisories",
        metavar="FEED",
        help="advisory feed JSON (default: the local store of 'elsewhere advisories import')",
    )
    ev.add_argument("--json", action="store_true", help="print the decisions as JSON")
    ev.set_defaults(handler=run_eval)
    group.set_defaults(handler=lambda _args: group.print_help(sys.stderr) or EXIT_BAD_INPUT)


def _load(path: str) -> Policy | None:
    """The policy, or None after printing every problem in it, one line each."""
    try:
        return load_policy(path)
    except PolicyError as error:
        for issue in error.issues:
            print(f"elsewhere: policy: {localize(str(issue))}", file=sys.stderr)
        return None


def run_check(args: argparse.Namespace) -> int:
    policy = _load(args.file)
    if policy is None:
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps({"digest": policy.digest, "policy": policy.to_json()}, indent=2))
    else:
        print(
            render_pairs(
                [
                    ("valid", args.file),
                    ("name", policy.name),
                    ("revision", policy.revision),
                    ("digest", policy.digest),
                ]
            )
        )
    return EXIT_OK


def _advisories(path: str | None) -> AdvisorySet:
    if path is None:
        return AdvisoryStore().load()
    return parse_feed(read_input(path, "--advisories"), path)


def _expected_report_data(text: str | None) -> str | None:
    if text is None:
        return None
    value = text.lower().removeprefix("0x")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise InputError("--report-data", text, "expected hexadecimal bytes") from None
    if len(value) > 128:
        raise InputError("--report-data", text[:16] + "...", "longer than 64 bytes")
    return value


def run_eval(args: argparse.Namespace) -> int:
    policy = _load(args.policy)
    if policy is None:
        return EXIT_BAD_INPUT
    evaluator = compile_policy(policy, _advisories(args.advisories))
    expected = _expected_report_data(args.report_data)
    options = options_from_args(args)
    at = options.verification_time()
    rows: list[tuple[str, Decision | InputError]] = []
    for path in args.evidence:
        try:
            result = verify_evidence(read_input(path, "evidence"), options)
        except InputError as error:
            rows.append((path, error))
            continue
        rows.append((path, evaluator.evaluate(result, at=at, expected_report_data=expected)))
    if args.json:
        print(json.dumps(_json(policy, rows), indent=2))
    else:
        print("\n\n".join(_render(path, outcome) for path, outcome in rows))
    if any(isinstance(outcome, InputError) for _, outcome in rows):
        return EXIT_BAD_INPUT
    refused = any(not outcome.accepted for _, outcome in rows if isinstance(outcome, Decision))
    return EXIT_REFUSED if refused else EXIT_OK


def _json(policy: Policy, rows: list[tuple[str, Decision | InputError]]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for path, outcome in rows:
        if isinstance(outcome, InputError):
            results.append({"evidence": path, "error": outcome.message})
        else:
            results.append({"evidence": path, **outcome.to_json()})
    return {
        "policy": {"name": policy.name, "revision": policy.revision, "digest": policy.digest},
        "results": results,
    }


def _render(path: str, outcome: Decision | InputError) -> str:
    if isinstance(outcome, InputError):
        return f"{path}: " + _("UNUSABLE: {error}").format(error=localize(outcome.message))
    verdict = (
        _("ACCEPTED")
        if outcome.accepted
        else ngettext(
            "REFUSED ({count} rule failed)", "REFUSED ({count} rules failed)", len(outcome.reasons)
        ).format(count=len(outcome.reasons))
    )
    lines = [
        f"{path}: "
        + _("{verdict} under {name} revision {revision}").format(
            verdict=verdict, name=outcome.policy_name, revision=outcome.policy_revision
        ),
        "  " + _("policy digest {digest}").format(digest=outcome.policy_digest),
        "  " + _("protection: {protection}").format(protection=localize(outcome.protection)),
    ]
    if outcome.advisories:
        lines.append("  " + _("advisories: {ids}").format(ids=", ".join(outcome.advisories)))
    if outcome.reasons:
        table = render_table(
            (_("rule"), _("claim"), _("found"), _("required")),
            [(r.rule, r.claim, localize(r.found), localize(r.required)) for r in outcome.reasons],
        )
        lines.append("\n".join("  " + line for line in table.splitlines()))
    return "\n".join(lines)
