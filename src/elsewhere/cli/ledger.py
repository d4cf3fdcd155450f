"""`elsewhere ledger`: the tamper-evident log of trust decisions, and its offline checks.

Exit codes: 0 verified / done, 1 verification failed or split view, 2 unusable input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from elsewhere import paths
from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.inputs import read_input
from elsewhere.db import DEFAULT_SQLITE_NAME
from elsewhere.errors import InputError
from elsewhere.i18n import N_, _
from elsewhere.ledger import tiles
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.canonical import canonical_bytes
from elsewhere.ledger.checkpoint import SignedCheckpoint, open_checkpoint
from elsewhere.ledger.keyfile import create_key_file, load_key_file
from elsewhere.ledger.log import Ledger
from elsewhere.ledger.merkle import prove_consistency
from elsewhere.ledger.monitor import ProofSource, compare, load_state, save_state, split_report
from elsewhere.ledger.note import COSIGNATURE_V1, Verifier, b64decode, b64encode


def default_log_url() -> str:
    """The control plane's database, where it appends its decisions."""
    configured = os.environ.get("ELSEWHERE_LEDGER_URL")
    return configured or f"sqlite:///{paths.home() / 'control' / DEFAULT_SQLITE_NAME}"


def default_key_path() -> Path:
    return paths.home() / "ledger" / "signing.key"


def _verifier(text: str) -> Verifier:
    """A verifier key given inline (name+id+key) or as a file holding one."""
    candidate = Path(text)
    if "+" not in text or candidate.is_file():
        text = read_input(text, "verifier key").decode("utf-8", "replace").strip()
    return Verifier.parse(text)


def _open(args: argparse.Namespace, *, signing: bool = False, create: bool = False) -> Ledger:
    key = Path(args.signing_key) if signing else None
    return Ledger.open(args.log, key, migrate=create)


def _json_entries(data: bytes, where: str) -> list[dict[str, Any]]:
    """One JSON object, an array of objects, or JSON lines."""
    try:
        text = data.decode("utf-8")
        stripped = text.strip()
        if stripped.startswith("["):
            values = json.loads(stripped)
        elif "\n" in stripped:
            values = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        else:
            values = [json.loads(stripped)]
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError("ledger entries", where, f"not JSON: {error}") from None
    if not isinstance(values, list) or not values:
        raise InputError("ledger entries", where, N_("expected JSON objects"))
    objects = [v for v in values if isinstance(v, dict)]
    if len(objects) != len(values):
        raise InputError("ledger entries", where, N_("expected JSON objects"))
    return objects


def _write(data: bytes, output: str | None) -> None:
    if output in (None, "-"):
        sys.stdout.write(data.decode())
    else:
        Path(output).write_bytes(data)


# --- commands that write ----------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    key_path = Path(args.signing_key)
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
    entries = _json_entries(read_input(args.file, "ledger entries"), args.file)
    ledger = _open(args)
    for index in ledger.append_many(entries):
        print(index)
    return EXIT_OK


def cmd_checkpoint(args: argparse.Namespace) -> int:
    _write(_open(args, signing=True).checkpoint().to_bytes(), args.output)
    return EXIT_OK


def cmd_prove(args: argparse.Namespace) -> int:
    ledger = _open(args, signing=Path(args.signing_key).exists())
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


# --- offline checks -------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    data = read_input(args.bundle, "proof bundle")
    entry = None
    if args.entry:
        values = _json_entries(read_input(args.entry, "entry"), args.entry)
        entry = canonical_bytes(values[0])
    result = verify_bundle(
        data,
        _verifier(args.key),
        entry=entry,
        witnesses=[_verifier(w) for w in args.witness],
        quorum=args.quorum,
        origin=args.origin,
    )
    cosigned = (
        _(", cosigned by {witnesses}").format(witnesses=", ".join(result.witnesses))
        if result.witnesses
        else ""
    )
    print(
        _("verified: entry {index} is in {origin} at size {size}").format(
            index=result.index, origin=result.checkpoint.origin, size=result.checkpoint.size
        )
        + cosigned
    )
    print(json.dumps(result.entry, indent=1, sort_keys=True))
    return EXIT_OK


def _checkpoint_file(path: str, key: Verifier, origin: str | None) -> SignedCheckpoint:
    return open_checkpoint(read_input(path, "checkpoint"), key, origin=origin)


def _proof_file(path: str) -> ProofSource:
    lines = read_input(path, "consistency proof").decode("utf-8", "replace").split()
    hashes = [b64decode(line, "consistency proof", f"line {n}") for n, line in enumerate(lines, 1)]
    return lambda old, new: hashes


def _proof_source(args: argparse.Namespace) -> ProofSource | None:
    if getattr(args, "proof", None):
        return _proof_file(args.proof)
    if args.log:
        if "://" not in args.log:
            log = tiles.TileLog(Path(args.log))
            return lambda old, new: _tile_proof(log, old, new)
        ledger = Ledger.open(args.log, migrate=False)
        return ledger.consistency_proof
    return None


def _tile_proof(log: tiles.TileLog, old: int, new: int) -> Sequence[bytes]:
    return prove_consistency(old, new, log.read_nodes(new))


def cmd_consistency(args: argparse.Namespace) -> int:
    key = _verifier(args.key)
    old = _checkpoint_file(args.old, key, args.origin)
    new = _checkpoint_file(args.new, key, args.origin)
    if old.size > new.size:
        raise InputError("consistency", args.old, f"size {old.size} > {new.size}; older first")
    source = _proof_source(args)
    if old.size not in (0, new.size) and source is None:
        raise InputError("consistency", "", N_("give --proof FILE or --log URL"))
    verdict = compare(old, new, source)
    if verdict.status == "split":
        sys.stdout.write(split_report(verdict))
        print(
            "elsewhere: " + _("split view: {reason}").format(reason=verdict.reason), file=sys.stderr
        )
        return EXIT_REFUSED
    print(
        _("consistent: {origin} size {old} is a prefix of size {new}").format(
            origin=old.origin, old=old.size, new=new.size
        )
    )
    return EXIT_OK


def cmd_monitor(args: argparse.Namespace) -> int:
    key = _verifier(args.key)
    origin = args.origin or key.name
    if not (args.checkpoint or args.log):
        raise InputError(
            "monitor", "", N_("give --log (the log) or --checkpoint (one you were shown)")
        )
    if args.checkpoint:
        latest = _checkpoint_file(args.checkpoint, key, origin)
    elif "://" in args.log:
        found = Ledger.open(args.log, migrate=False).latest_checkpoint()
        if found is None:
            raise InputError("monitor", args.log, N_("the log has no signed checkpoint"))
        latest = open_checkpoint(found.to_bytes(), key, origin=origin)
    else:
        latest = open_checkpoint(tiles.TileLog(Path(args.log)).checkpoint(), key, origin=origin)
    state = Path(args.state) if args.state else _default_state(origin)
    previous = load_state(state, key, origin)
    verdict = compare(previous, latest, _proof_source(args))
    if verdict.status == "split":
        sys.stdout.write(split_report(verdict))
        print(
            "elsewhere: "
            + _("SPLIT VIEW for {origin}: {reason}").format(origin=origin, reason=verdict.reason),
            file=sys.stderr,
        )
        return EXIT_REFUSED
    if verdict.keep is not previous:
        save_state(state, verdict.keep)
    print(f"{verdict.status}: {origin}: {verdict.reason}")
    if args.cosign_key and verdict.status in ("first", "advanced", "unchanged"):
        # A witness cosigns only what it has just checked to be consistent with its state.
        witness = load_key_file(Path(args.cosign_key))
        cosigned = verdict.latest.cosign(witness, int(time.time()))
        _write(cosigned.to_bytes(), args.output)
    return EXIT_OK


def cmd_witness_key(args: argparse.Namespace) -> int:
    witness = create_key_file(Path(args.key_file), args.name, COSIGNATURE_V1)
    print(witness.verifier.vkey())
    return EXIT_OK


def cmd_add_cosignatures(args: argparse.Namespace) -> int:
    ledger = _open(args, signing=True)
    merged = ledger.add_cosignatures(
        read_input(args.file, "cosigned checkpoint"), [_verifier(w) for w in args.witness]
    )
    _write(merged.to_bytes(), None)
    return EXIT_OK


def _default_state(origin: str) -> Path:
    name = hashlib.sha256(origin.encode()).hexdigest()[:16]
    return paths.home() / "ledger" / f"monitor-{name}.json"


# --- parsers --------------------------------------------------------------------------


def register(commands: Any) -> None:
    group = commands.add_parser("ledger", help="the tamper-evident log of trust decisions")
    sub = group.add_subparsers(title="ledger commands", metavar="COMMAND")

    def log_options(parser: argparse.ArgumentParser, signing: bool = False) -> None:
        parser.add_argument("--log", default=default_log_url(), metavar="DB_URL")
        if signing:
            parser.add_argument("--signing-key", default=str(default_key_path()), metavar="PATH")

    def verify_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--key",
            required=True,
            metavar="VERIFIER_KEY",
            help="the log's verifier key (name+id+key) or a file holding it",
        )
        parser.add_argument("--origin", help="expected origin (default: the key's name)")

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
    log_options(p, signing=True)
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

    p = sub.add_parser("verify", help="verify an offline proof bundle (no log needed)")
    p.add_argument("bundle", metavar="BUNDLE")
    verify_options(p)
    p.add_argument("--entry", metavar="FILE", help="the entry, when the bundle lacks it")
    p.add_argument("--witness", action="append", default=[], metavar="VKEY")
    p.add_argument("--quorum", type=int, default=0, metavar="K")
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("consistency", help="check two checkpoints describe one history")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    verify_options(p)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--proof", metavar="FILE", help="consistency proof, base64 per line")
    source.add_argument("--log", metavar="DB_URL|DIR")
    p.set_defaults(handler=cmd_consistency)

    p = sub.add_parser("monitor", help="accept a newer checkpoint only if consistent")
    p.add_argument(
        "--log",
        metavar="DB_URL|DIR",
        help="the log's database or tile directory: its latest checkpoint, and proofs",
    )
    p.add_argument("--checkpoint", metavar="FILE", help="check this checkpoint instead")
    verify_options(p)
    p.add_argument("--proof", metavar="FILE", help="consistency proof from the state's size")
    p.add_argument("--state", metavar="FILE", help="where the accepted checkpoint is kept")
    p.add_argument("--cosign-key", metavar="PATH", help="witness key: cosign what is accepted")
    p.add_argument("-o", "--output", metavar="FILE", help="where the cosigned checkpoint goes")
    p.set_defaults(handler=cmd_monitor)

    p = sub.add_parser("witness-key", help="create a witness (cosignature/v1) key, 0600")
    p.add_argument("--name", required=True, help="witness name, e.g. witness.example/w1")
    p.add_argument("--key-file", required=True, metavar="PATH")
    p.set_defaults(handler=cmd_witness_key)

    p = sub.add_parser("add-cosignatures", help="keep witness cosignatures with a checkpoint")
    p.add_argument("file", metavar="COSIGNED_CHECKPOINT")
    p.add_argument("--witness", action="append", required=True, metavar="VKEY")
    log_options(p, signing=True)
    p.set_defaults(handler=cmd_add_cosignatures)
