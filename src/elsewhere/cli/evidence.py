"""`elsewhere evidence verify`: check attestation evidence offline and print its claims."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from elsewhere.claims import Tee, VerificationResult
from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.inputs import read_input
from elsewhere.cli.table import render_pairs, render_table
from elsewhere.evidence import EvidenceOptions, TrustAnchor, verify_evidence
from elsewhere.evidence.dcap.collateral import load_collateral
from elsewhere.i18n import _, localize
from elsewhere.timeutil import iso, parse_time


def register(commands: Any) -> None:
    group = commands.add_parser("evidence", help="verify attestation evidence")
    sub = group.add_subparsers(title="evidence commands", metavar="COMMAND")
    verify = sub.add_parser(
        "verify",
        help="verify SEV-SNP evidence or an Intel TDX / SGX DCAP quote offline",
        description="Verify attestation evidence offline: signatures, the certificate chain to a "
        "pinned vendor root at --at, and the binding of TCB and chip id. Exit 0 verified "
        "(and, for Intel, TCB UpToDate), 1 parsed but not verified or verified on a platform "
        "whose TCB status is not UpToDate, 2 unusable input.",
    )
    verify.add_argument("file", metavar="FILE", help="evidence file ('-' for stdin)")
    verify.add_argument(
        "--vcek",
        "--vlek",
        dest="vek",
        metavar="CERT",
        help="VCEK or VLEK certificate (PEM or DER; a PEM bundle may add ASK, ARK)",
    )
    verify.add_argument(
        "--chain",
        action="append",
        default=[],
        metavar="PEM",
        help="ASK/ASVK and ARK certificates (PEM bundle or DER); repeatable",
    )
    verify.add_argument(
        "--certs",
        metavar="FILE",
        help="SEV certificate table / configfs-tsm auxblob with VCEK/VLEK, ASK, ARK",
    )
    verify.add_argument(
        "--trust-emulated-root",
        action="append",
        default=[],
        metavar="PEM",
        help="trust this EMULATED root (development only; results say emulated)",
    )
    verify.add_argument(
        "--collateral",
        metavar="PATH",
        help="DCAP collateral: dcap-qvl JSON or a directory of Intel PCS responses "
        "(default: the local cache filled by 'elsewhere collateral import')",
    )
    verify.add_argument(
        "--at", metavar="TIME", help="verify certificates at this time (ISO 8601, default now)"
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=run_verify)
    group.set_defaults(handler=lambda _args: group.print_help(sys.stderr) or 2)


def options_from_args(args: argparse.Namespace) -> EvidenceOptions:
    return EvidenceOptions(
        at=parse_time(args.at) if args.at else None,
        vek=read_input(args.vek, "--vcek") if args.vek else None,
        chain=tuple(read_input(path, "--chain") for path in args.chain),
        cert_table=read_input(args.certs, "--certs") if args.certs else None,
        collateral=load_collateral(Path(args.collateral)) if args.collateral else None,
        trusted_emulated_roots=tuple(
            TrustAnchor.emulated_root(read_input(path, "--trust-emulated-root"), path)
            for path in args.trust_emulated_root
        ),
    )


def run_verify(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    result = verify_evidence(read_input(args.file, "evidence"), options)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=False))
    else:
        print(render_result(result))
    return EXIT_OK if result.verified and not out_of_date(result) else EXIT_REFUSED


# Intel's TCB status of a platform that has every security update it needs.
CURRENT_TCB = "UpToDate"


def out_of_date(result: VerificationResult) -> str | None:
    """The TCB status when the collateral says the platform is not current (Intel DCAP)."""
    status = result.claims.tcb_status
    return status if status is not None and status != CURRENT_TCB else None


def protection_line(result: VerificationResult) -> str:
    """What protects the workload; never plain "hardware-attested" on an out-of-date TCB."""
    status = out_of_date(result)
    if not result.verified or status is None:
        return localize(result.protection)
    return localize(result.protection) + _(
        ", but TCB {status}: the platform lacks security updates "
        "(advisories below apply); not attested as current"
    ).format(status=status)


def render_result(result: VerificationResult) -> str:
    """A readable summary: verdict, protection, claims, failed checks and notices."""
    claims = result.claims
    snp = claims.tee is Tee.SEV_SNP
    verdict = (
        _("VERIFIED")
        if result.verified
        else _("NOT VERIFIED ({count} failed)").format(count=len(result.failures))
    )
    if result.verified and out_of_date(result):
        verdict = _("VERIFIED, TCB {status}").format(status=out_of_date(result))
    lines = [
        _("{verdict}: {kind} at {time}").format(
            verdict=verdict, kind=result.evidence_kind, time=iso(result.verified_at)
        )
    ]
    if claims.emulated:
        lines.append(_("WARNING: {warning}").format(warning=localize(result.protection)))
    pairs: list[tuple[str, object]] = [
        (_("protection"), protection_line(result)),
        ("vendor / tee", f"{claims.vendor.value} {claims.tee.value}"),
        ("generation", claims.generation or _("unknown")),
        ("report version", claims.report_version),
        ("signer", claims.signer),
        ("debug", claims.debug),
    ]
    if snp or claims.smt is not None:  # SMT is in an SNP report's policy; TDX has none
        pairs.append(("smt", claims.smt))
    pairs += [
        ("tcb", ", ".join(f"{k}={v}" for k, v in claims.tcb.items())),
    ]
    if claims.fmspc is not None:  # Intel DCAP: platform TCB verdict from the collateral
        pairs += [
            ("fmspc", claims.fmspc),
            ("tcb status", claims.tcb_status or _("(none: see failed checks)")),
            ("advisory ids", ", ".join(claims.advisory_ids) or _("(none)")),
        ]
    pairs += [(name, value) for name, value in claims.measurements.items()]
    pairs.append(("report_data", claims.report_data))
    if snp or claims.host_data is not None:  # SEV-SNP fields only
        pairs.append(("host_data", claims.host_data))
    if snp or claims.chip_id is not None:
        pairs.append(("chip_id", claims.chip_id or _("(masked / VLEK)")))
    flags = ", ".join(name for name, on in claims.flags.items() if on) or _("(none)")
    pairs.append(("flags", flags))
    pairs += [(name, value) for name, value in claims.identity.items()]
    lines += ["", render_pairs(pairs)]
    if result.failures:
        rows = [(f.check, f.found, f.expected) for f in result.failures]
        lines += ["", render_table((_("failed check"), _("found"), _("expected")), rows)]
    if result.notices:
        lines += ["", *(_("notice: {notice}").format(notice=localize(n)) for n in result.notices)]
    return "\n".join(lines)
