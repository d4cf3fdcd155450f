"""`elsewhere vault …`: the personal-data vault (docs/vault.md).

Tenant commands go over the API (`--control`, `--token`); operator commands that work on the
store directly (`sweep`, `backup`, `restore`, `expire-epoch`) take `--data-dir`/`--database`
like `elsewhere serve`. A subject id given on the command line is in your shell's history and
in the process list while the command runs; it is sent only in request bodies.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.inputs import read_input
from elsewhere.cli.serve import add_client_args, add_store_args, client, open_plane
from elsewhere.cli.table import render_table
from elsewhere.errors import InputError
from elsewhere.vault.model import MAX_RECORD_BYTES

MAX_BACKUP_FILE = 2 * 1024**3


def register(commands: Any) -> None:
    group = commands.add_parser("vault", help="personal data under per-subject keys; erasure")
    sub = group.add_subparsers(title="vault commands", metavar="COMMAND")

    def api(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        add_client_args(parser)
        parser.set_defaults(handler=handler)
        return parser

    def store(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        add_store_args(parser)
        parser.set_defaults(handler=handler)
        return parser

    p = api("put", "store a record for a subject (encrypted under its data key)", run_put)
    p.add_argument("subject")
    p.add_argument("file", help="the record's bytes ('-' = standard input)")
    p.add_argument("--purpose", action="append", required=True, help="repeat for several")
    p.add_argument("--born", help="date of birth YYYY-MM-DD (for age-based retention)")
    p = api("get-meta", "a subject's state and record metadata (never values)", run_meta)
    p.add_argument("subject")
    p = api("list", "subjects by hash, with state and record count", run_list)
    p.add_argument("--state", choices=("active", "pending", "erased"))
    p = api("erase", "request erasure (grace period; every use refused meanwhile)", run_erase)
    p.add_argument("subject")
    p = api("hold", "set (or --lift) a legal hold, which blocks erasure", run_hold)
    p.add_argument("subject")
    p.add_argument("--reason", required=True)
    p.add_argument("--lift", action="store_true")
    p = api("approve-erase", "operator: approve erasing before the grace ends", run_approve)
    p.add_argument("tenant", help="tenant id")
    p.add_argument("subject_hash", help="the subject's hash (as `vault erase` printed it)")
    p = api("declare", "the purposes a deployment's keeps may use subjects' data for", run_declare)
    p.add_argument("deployment")
    p.add_argument("purposes", nargs="+")
    p = api("rule", "add a retention rule: age:YEARS or idle:DAYSd", run_rule_add)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--purpose")
    target.add_argument("--subject")
    p.add_argument("rule")
    api("rules", "list retention rules", run_rules)

    receipt = sub.add_parser("receipt", help="erasure receipts: get one, verify one")
    rsub = receipt.add_subparsers(title="receipt commands", metavar="COMMAND")
    p = rsub.add_parser("get", help="the signed erasure receipt of an erased subject")
    add_client_args(p)
    p.add_argument("subject")
    p.add_argument("-o", "--output", type=Path, help="file to write (default standard output)")
    p.set_defaults(handler=run_receipt)
    p = rsub.add_parser("verify", help="check a receipt offline with the ledger's verifier key")
    p.add_argument("file")
    p.add_argument(
        "--key",
        required=True,
        metavar="VKEY|FILE|URL",
        help="the ledger's verifier key: a vkey, a file of vkey lines, or a URL serving them",
    )
    p.add_argument("--subject", help="also check that the receipt names this subject")
    p.set_defaults(handler=run_verify)

    p = store("sweep", "complete due erasures, apply retention rules, expire epochs", run_sweep)
    p.add_argument("--every", type=float, help="repeat every SECONDS until interrupted")
    p = store("backup", "write a backup encrypted under the current epoch's key", run_backup)
    p.add_argument("-o", "--output", type=Path, required=True)
    p = store("restore", "restore a backup (erased subjects stay erased)", run_restore)
    p.add_argument("file", type=Path)
    p = store(
        "expire-epoch", "destroy a backup epoch's key (its backups no longer open)", run_expire
    )
    p.add_argument("epoch", nargs="?", help="epoch id; default: every epoch past its expiry")


def _show(answer: Any) -> None:
    print(json.dumps(answer, indent=1, sort_keys=True))


def run_put(args: argparse.Namespace) -> int:
    value = read_input(args.file, "record", limit=MAX_RECORD_BYTES)
    body = {
        "subject": args.subject,
        "purposes": args.purpose,
        "value": base64.b64encode(value).decode(),
        "born_on": args.born,
    }
    with client(args) as api:
        answer = api.json("POST", "/v1/vault/records", json=body)
    print(
        f"record {answer['record']} stored for subject {answer['subject']} "
        "(AES-256-GCM under the subject's data key)"
    )
    return EXIT_OK


def run_meta(args: argparse.Namespace) -> int:
    with client(args) as api:
        _show(api.json("POST", "/v1/vault/subjects/meta", json={"subject": args.subject}))
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    params = {"state": args.state} if args.state else {}
    with client(args) as api:
        rows = api.json("GET", "/v1/vault/subjects", params=params)
    table = [
        (r["subject"], r["state"], "yes" if r["hold"] else "-", str(r["records"])) for r in rows
    ]
    print(render_table(("subject hash", "state", "hold", "records"), table))
    return EXIT_OK


def run_erase(args: argparse.Namespace) -> int:
    with client(args) as api:
        answer = api.json("POST", "/v1/vault/erase", json={"subject": args.subject})
    if answer["state"] == "erased":
        print(f"subject {answer['subject']} erased (data key and records destroyed)")
    else:
        print(
            f"subject {answer['subject']}: erasure pending until {answer['erase_after']}; "
            "every use is refused meanwhile"
        )
    return EXIT_OK


def run_hold(args: argparse.Namespace) -> int:
    body = {"subject": args.subject, "hold": not args.lift, "reason": args.reason}
    with client(args) as api:
        answer = api.json("POST", "/v1/vault/hold", json=body)
    state = "under legal hold" if answer["hold"] else "no longer held"
    print(f"subject {answer['subject']} {state} [ledger #{answer['ledger_index']}]")
    return EXIT_OK


def run_approve(args: argparse.Namespace) -> int:
    body = {"tenant": args.tenant, "subject_hash": args.subject_hash}
    with client(args) as api:
        answer = api.json("POST", "/v1/vault/approve", json=body)
    print(f"approvals {answer['approvals']} of {answer['required']}: subject {answer['state']}")
    return EXIT_OK


def run_declare(args: argparse.Namespace) -> int:
    with client(args) as api:
        answer = api.json(
            "PUT",
            f"/v1/vault/deployments/{args.deployment}/purposes",
            json={"purposes": args.purposes},
        )
    print(f"deployment {answer['deployment']} may use: {', '.join(answer['purposes'])}")
    return EXIT_OK


def run_rule_add(args: argparse.Namespace) -> int:
    scope, target = ("purpose", args.purpose) if args.purpose else ("subject", args.subject)
    with client(args) as api:
        answer = api.json(
            "POST", "/v1/vault/rules", json={"scope": scope, "target": target, "rule": args.rule}
        )
    print(f"retention rule {answer['id']}: {answer['rule']} for {scope} {answer['target']}")
    return EXIT_OK


def run_rules(args: argparse.Namespace) -> int:
    with client(args) as api:
        rows = api.json("GET", "/v1/vault/rules")
    print(
        render_table(
            ("id", "scope", "target", "rule"),
            [(r["id"], r["scope"], r["target"], r["rule"]) for r in rows],
        )
    )
    return EXIT_OK


def run_receipt(args: argparse.Namespace) -> int:
    with client(args) as api:
        data = api.request("POST", "/v1/vault/receipt", json={"subject": args.subject}).content
    if args.output is None:
        sys.stdout.buffer.write(data)
    else:
        args.output.write_bytes(data)
        print(f"erasure receipt written to {args.output}")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    from elsewhere.cli.ledger_remote import read_keys
    from elsewhere.vault import receipts

    receipt = receipts.verify(
        read_input(args.file, "erasure receipt", limit=receipts.MAX_RECEIPT_BYTES),
        read_keys(args.key),
        args.subject,
    )
    named = " (names the subject given)" if args.subject else ""
    print(
        f"erasure receipt verified{named}: subject {receipt.subject_hash} of tenant "
        f"{receipt.tenant} erased at {receipt.erased_at}, ledger #{receipt.index} of "
        f"{receipt.origin}"
    )
    return EXIT_OK


def run_sweep(args: argparse.Namespace) -> int:
    from elsewhere.control.vault import backups, retention

    cp = open_plane(args)
    stop = threading.Event()
    try:
        while True:
            result = retention.sweep(cp.engine, cp.ledger)
            expired = backups.expire_epochs(cp.engine, cp.ledger)
            erased = result.grace_ended + sum(result.by_rule.values())
            print(
                f"sweep: {result.grace_ended} erasures after their grace period, "
                f"{erased - result.grace_ended} by retention rules, "
                f"{len(expired)} backup epochs expired",
                flush=True,
            )
            if args.every is None or stop.wait(args.every):
                return EXIT_OK
    finally:
        cp.close()


def run_backup(args: argparse.Namespace) -> int:
    from elsewhere.control.vault import backups
    from elsewhere.vault.model import VaultSettings

    cp = open_plane(args)
    try:
        epoch, data = backups.backup(cp.engine, cp.kek, VaultSettings.from_env())
    finally:
        cp.close()
    try:
        args.output.write_bytes(data)
    except OSError as error:
        raise InputError("backup", str(args.output), error.strerror or "cannot write") from None
    print(
        f"backup written to {args.output} ({len(data)} bytes, epoch {epoch}; it stops "
        "opening when that epoch's key expires)"
    )
    return EXIT_OK


def run_restore(args: argparse.Namespace) -> int:
    from elsewhere.control.vault import backups

    data = read_input(args.file, "vault backup", limit=MAX_BACKUP_FILE)
    cp = open_plane(args)
    try:
        done = backups.restore(cp.engine, cp.kek, data)
    finally:
        cp.close()
    print(
        f"restored {done.subjects} subjects ({done.records} records); skipped "
        f"{done.skipped_erased} erased and {done.skipped_live} already present"
    )
    return EXIT_OK


def run_expire(args: argparse.Namespace) -> int:
    from elsewhere.control.vault import backups

    cp = open_plane(args)
    try:
        ids = backups.expire_epochs(cp.engine, cp.ledger, args.epoch)
    finally:
        cp.close()
    print(f"expired {len(ids)} backup epochs: {', '.join(ids) or 'none due'}")
    return EXIT_OK
