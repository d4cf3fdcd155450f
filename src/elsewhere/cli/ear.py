"""`elsewhere ear verify TOKEN --jwks FILE [--log URL | --database URL --key VKEY]`.

The signature against a saved JWKS (the control plane's /.well-known/jwks.json), `exp` always
(at --at, default now), then the EAR shape; prints the status, the AR4SI vector and our claims.
With --log (the control plane's URL) or --database (the log's database, read only), also that
the decision was logged: an inclusion proof of the token's ledger index against a checkpoint
signed by the log's key (--key), whose leaf is the token's (elsewhere/ear/logged.py).
Exit 0: verified and released (affirming or warning), and logged when asked; 1: refused,
expired, forged, contraindicated, not logged or not provable yet; 2: unusable input (a JWKS,
key or token file that cannot be read).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from elsewhere.cli.ear_ledger import fetch_bundle, read_keys
from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.ear import jws
from elsewhere.ear.ar4si import Tier, describe
from elsewhere.ear.logged import Proved, ledger_claim, prove
from elsewhere.ear.result import EarResult, parse
from elsewhere.errors import InputError
from elsewhere.i18n import N_, _, localize
from elsewhere.ledger.note import b64encode
from elsewhere.timeutil import iso


def register(commands: Any) -> None:
    ear = commands.add_parser("ear", help="EAR attestation results (draft-ietf-rats-ear)")
    sub = ear.add_subparsers(title="ear commands", metavar="COMMAND")
    verify = sub.add_parser(
        "verify", help="verify a result token against a JWKS, and that it was logged"
    )
    verify.add_argument("token", help="the token, a file holding it, or - for standard input")
    verify.add_argument("--jwks", type=Path, required=True, help="saved JWKS (jwks.json)")
    verify.add_argument("--at", help="check exp at this ISO 8601 time instead of now")
    verify.add_argument("--json", action="store_true", help="print the verified claims as JSON")
    source = verify.add_mutually_exclusive_group()
    source.add_argument(
        "--log", metavar="URL", help="control-plane URL: prove the decision is in its ledger"
    )
    source.add_argument(
        "--database", metavar="DB_URL", help="the ledger's database (read only), instead of --log"
    )
    verify.add_argument(
        "--key",
        metavar="VKEY",
        help="the ledger's verifier key (name+id+key) or a file of them, one per line",
    )
    verify.add_argument(
        "--api-token",
        default=os.environ.get("ELSEWHERE_TOKEN"),
        help="tenant API token for --log (env ELSEWHERE_TOKEN)",
    )
    verify.set_defaults(handler=run_verify)


def _read_token(text: str) -> str:
    if text == "-":
        return sys.stdin.read().strip()
    if text.count(".") == 2 and "/" not in text:
        return text.strip()
    try:
        return Path(text).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError("token", text, f"not a token and not a readable file ({error})") from None


def _at(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("--at", text, N_("not an ISO 8601 time")) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _iso(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    return iso(dt.datetime.fromtimestamp(seconds, dt.UTC))


def render(ear: EarResult) -> list[str]:
    lines = [
        f"status: {ear.status.value} (profile {ear.profile})",
        f"verifier: {ear.developer} {ear.build}; issued {_iso(ear.issued_at)}, "
        f"expires {_iso(ear.expires_at)}",
    ]
    for sub in ear.submods:
        lines.append(f"submod {sub.name}: {sub.status.value}")
        for claim, value in sub.vector.items():
            lines.append(f"  {claim} {value} ({describe(claim, value)})")
        lines.extend(f"  policy: {p}" for p in sub.policy_ids)
        ours = sub.extension
        if ours:
            lines.append(
                f"  {ours.get('tee')} {ours.get('vendor')} {ours.get('generation') or '-'}; "
                f"TCB status {ours.get('tcb_status') or '-'}; {ours.get('protection')}"
            )
            lines.append(f"  workload {ours.get('workload_digest')}")
            lines.append(f"  keep key {ours.get('keep_key_digest')} ({ours.get('keep_key_suite')})")
            lines.append("  " + _ledger(ours.get("ledger")))
            lines.extend(
                "  " + _("reason: {reason}").format(reason=localize(r))
                for r in ours.get("reasons") or []
            )
    return lines


def _ledger(ledger: object) -> str:
    if not isinstance(ledger, dict):
        return "ledger: not named"
    text = f"ledger: {ledger.get('origin')}"
    if "index" not in ledger:
        return text + "; index not in the token (see the decision's ledger_index)"
    return text + f", index {ledger['index']}, leaf {ledger.get('leaf_hash')}"


def _prove(args: argparse.Namespace, ear: EarResult) -> Proved | None:
    """The ledger proof, when --log or --database asks for it."""
    if args.log is None and args.database is None:
        if args.key is not None:
            raise InputError("--key", args.key, N_("needs --log or --database to fetch a proof"))
        return None
    if args.key is None:
        raise InputError("--key", "", N_("the ledger's verifier key is needed to check the proof"))
    keys = read_keys(args.key)
    claim = ledger_claim(ear)
    return prove(claim, fetch_bundle(args, claim), keys, ear)


def run_verify(args: argparse.Namespace) -> int:
    try:
        jwks_text = args.jwks.read_bytes()
    except OSError as error:
        raise InputError("--jwks", str(args.jwks), error.strerror or "unreadable") from None
    keys = jws.load_jwks(jwks_text, str(args.jwks))
    claims = jws.verify(_read_token(args.token), keys, now=_at(args.at))
    ear = parse(claims)
    proved = _prove(args, ear)
    # With --json, stdout holds the claims only (one JSON document a script can parse); what
    # was checked is said on stderr.
    said = sys.stderr if args.json else sys.stdout
    print(_("VERIFIED: signature ({jwks}) and exp").format(jwks=args.jwks), file=said)
    if proved is not None:
        signed = proved.checkpoint
        print(
            _(
                "LOGGED: entry {index} of {origin}, proved against the checkpoint of size "
                "{size}, root {root}"
            ).format(
                index=proved.claim.index,
                origin=signed.origin,
                size=signed.size,
                root=b64encode(signed.root),
            ),
            file=said,
        )
    if args.json:
        print(json.dumps(claims, indent=2, sort_keys=True))
    else:
        print("\n".join(render(ear)))
    if ear.status is Tier.CONTRAINDICATED:
        print("elsewhere: " + _("the result is contraindicated (refused)"), file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK
