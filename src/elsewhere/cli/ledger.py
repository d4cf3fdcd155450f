"""`elsewhere ledger`: the tamper-evident log of trust decisions. This module: the log's
own commands (over its database) and the parsers; checks that need only the public key are in
cli/ledger_check.py, reading a log over HTTP(S) in cli/ledger_remote.py.

Exit codes: 0 verified / done, 1 verification failed or split view, 2 unusable input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from elsewhere import paths
from elsewhere.cli import ledger_check as check
from elsewhere.cli import ledger_remote as remote
from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.inputs import read_input
from elsewhere.db import DEFAULT_SQLITE_NAME
from elsewhere.errors import InputError
from elsewhere.i18n import N_, _
from elsewhere.ledger import tiles
from elsewhere.ledger.keyfile import create_key_file, load_key_file
from elsewhere.ledger.log import Ledger
from elsewhere.ledger.note import b64encode


def default_log_url() -> str:
    """The control plane's database, where it appends its decisions."""
    configured = os.environ.get("ELSEWHERE_LEDGER_URL")
    return configured or f"sqlite:///{paths.home() / 'control' / DEFAULT_SQLITE_NAME}"


def default_key_path() -> Path:
    """The control plane's own checkpoint key (`serve` without --keys writes it there), so the
    default --log and the default key are the same log's."""
    configured = os.environ.get("ELSEWHERE_LEDGER_KEY")
    return Path(configured) if configured else paths.home() / "control" / "ledger.key"


def signing_key(text: str) -> Path:
    """--signing-key: a key file, or a key directory (`serve --keys`): its newest ledger key."""
    path = Path(text)
    if path.is_dir():
        found = sorted(path.glob("ledger.[0-9][0-9][0-9][0-9].key"))
        if not found:
            raise InputError("--signing-key", text, N_("a directory without ledger.NNNN.key"))
        return found[-1]
    return path


def _open(args: argparse.Namespace, *, signing: bool = False, create: bool = False) -> Ledger:
    key = signing_key(args.signing_key) if signing else None
    return Ledger.open(args.log, key, migrate=create)


def _write(data: bytes, output: str | None) -> None:
    if output in (None, "-"):
        sys.stdout.write(data.decode())
    else:
        Path(output).write_bytes(data)


# --- commands that write ----------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    key_path = signing_key(args.signing_key)
    if key_path.exists():
        signer = load_key_file(key_path)
        if signer.name != args.origin:
            raise InputError("--origin", args.origin, f"the key at {key_path} is {signer.name!r}")
    else:
        signer = create_key_file(key_path, args.origin)
    Ledger.open(args.log, key_path, args.origin).close()
    print(signer.verifier.vkey())
    return EXIT_OK


def cmd_append(args: argparse.Namespace) -> int:
    entries = check.json_entries(read_input(args.file, "ledger entries"), args.file)
    ledger = _open(args)
    for index in ledger.append_many(entries):
        print(index)
    return EXIT_OK


def cmd_checkpoint(args: argparse.Namespace) -> int:
    _write(_open(args, signing=True).checkpoint().to_bytes(), args.output)
    return EXIT_OK


def cmd_prove(args: argparse.Namespace) -> int:
    if remote.is_remote(args.log):
        return remote.prove_remote(args)
    # With the log's key at hand, an entry not yet in a checkpoint gets one signed now.
    ledger = _open(args, signing=signing_key(args.signing_key).exists())
    _write(ledger.bundle(args.index), args.output)
    return EXIT_OK


def cmd_prove_consistency(args: argparse.Namespace) -> int:
    proof = _open(args).consistency_proof(args.old, args.new)
    _write("".join(b64encode(h) + "\n" for h in proof).encode(), args.output)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    ledger = _open(args)
    signed = ledger.latest_checkpoint()
    if signed is None:
        raise InputError("ledger export", args.log, N_("no signed checkpoint yet"))

    count = tiles.export(
        Path(args.directory),
        signed.size,
        ledger.reader(signed.size),
        ledger.entries_bytes,
        signed.to_bytes(),
    )
    print(
        _("exported size {size} to {directory} ({count} files written)").format(
            size=signed.size, directory=args.directory, count=count
        )
    )
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    size = _open(args).audit()
    print(_("audit: all {size} entries rehash to the stored tree and root").format(size=size))
    return EXIT_OK


def cmd_add_cosignatures(args: argparse.Namespace) -> int:
    ledger = _open(args, signing=True)
    witnesses = [key for text in args.witness for key in remote.read_keys(text)]
    merged = ledger.add_cosignatures(read_input(args.file, "cosigned checkpoint"), witnesses)
    _write(merged.to_bytes(), None)
    return EXIT_OK


# --- parsers --------------------------------------------------------------------------


def register(commands: Any) -> None:
    group = commands.add_parser("ledger", help="the tamper-evident log of trust decisions")
    sub = group.add_subparsers(title="ledger commands", metavar="COMMAND")

    def log_options(parser: argparse.ArgumentParser, signing: bool = False) -> None:
        parser.add_argument("--log", default=default_log_url(), metavar="DB_URL")
        if signing:
            parser.add_argument(
                "--signing-key",
                default=str(default_key_path()),
                metavar="PATH",
                help="the log's key file, or a key directory (its newest ledger key)",
            )

    p = sub.add_parser("init", help="create the signing key (0600) and the log")
    p.add_argument("--origin", required=True, help="log name, e.g. example.com/elsewhere")
    log_options(p, signing=True)
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("append", help="append JSON entries (object, array or JSON lines)")
    p.add_argument("file", nargs="?", default="-", metavar="FILE")
    log_options(p)
    p.set_defaults(handler=cmd_append)

    p = sub.add_parser("checkpoint", help="sign and print a checkpoint of the committed log")
    p.add_argument("-o", "--output", metavar="FILE")
    log_options(p, signing=True)
    p.set_defaults(handler=cmd_checkpoint)

    p = sub.add_parser("prove", help="write an offline proof bundle for one entry")
    p.add_argument("index", type=int, metavar="INDEX")
    p.add_argument("-o", "--output", metavar="BUNDLE")
    p.add_argument(
        "--log",
        default=default_log_url(),
        metavar="DB_URL|URL",
        help="the log's database, or an https:// log (proof from its tiles; needs --key)",
    )
    p.add_argument("--signing-key", default=str(default_key_path()), metavar="PATH")
    remote.key_options(p, required=False)
    remote.ca_option(p)
    p.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="with an https log: how long to wait for a checkpoint covering INDEX",
    )
    p.set_defaults(handler=cmd_prove)

    p = sub.add_parser("prove-consistency", help="print a consistency proof between sizes")
    p.add_argument("old", type=int, metavar="OLD_SIZE")
    p.add_argument("new", type=int, nargs="?", metavar="NEW_SIZE")
    p.add_argument("-o", "--output", metavar="FILE")
    log_options(p)
    p.set_defaults(handler=cmd_prove_consistency)

    p = sub.add_parser("export", help="publish the log as static C2SP tlog-tiles")
    p.add_argument("directory", metavar="DIR")
    log_options(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("audit", help="rehash every entry and compare with the stored tree")
    log_options(p)
    p.set_defaults(handler=cmd_audit)

    remote.register_fetch(sub)

    p = sub.add_parser("verify", help="verify an offline proof bundle (no log needed)")
    p.add_argument("bundle", metavar="BUNDLE")
    remote.key_options(p)
    p.add_argument("--entry", metavar="FILE", help="the entry, when the bundle lacks it")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY")
    p.add_argument("--quorum", type=int, default=0, metavar="K")
    p.set_defaults(handler=check.cmd_verify)

    p = sub.add_parser("consistency", help="check two checkpoints describe one history")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    remote.key_options(p, required=False)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--proof", metavar="FILE", help="consistency proof, base64 per line")
    source.add_argument("--log", metavar="DB_URL|DIR|URL")
    remote.ca_option(p)
    p.set_defaults(handler=check.cmd_consistency)

    p = sub.add_parser("monitor", help="accept a newer checkpoint only if consistent")
    p.add_argument(
        "--log",
        metavar="DB_URL|DIR|URL",
        help="the log (database, tile directory or https:// URL): its checkpoint, and proofs",
    )
    p.add_argument("--checkpoint", metavar="FILE", help="check this checkpoint instead")
    remote.key_options(p, required=False)
    remote.ca_option(p)
    p.add_argument("--proof", metavar="FILE", help="consistency proof from the state's size")
    p.add_argument("--state", metavar="FILE", help="where the accepted checkpoint is kept")
    p.add_argument("--cosign-key", metavar="PATH", help="witness key: cosign what is accepted")
    p.add_argument("-o", "--output", metavar="FILE", help="where the cosigned checkpoint goes")
    p.set_defaults(handler=check.cmd_monitor)

    p = sub.add_parser("witness-key", help="create a witness (cosignature/v1) key, 0600")
    p.add_argument("--name", required=True, help="witness name, e.g. witness.example/w1")
    p.add_argument("--key-file", required=True, metavar="PATH")
    p.set_defaults(handler=check.cmd_witness_key)

    p = sub.add_parser("add-cosignatures", help="keep witness cosignatures with a checkpoint")
    p.add_argument("file", metavar="COSIGNED_CHECKPOINT")
    p.add_argument("--witness", action="append", required=True, metavar="VKEY")
    log_options(p, signing=True)
    p.set_defaults(handler=cmd_add_cosignatures)
