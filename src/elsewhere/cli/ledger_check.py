"""`elsewhere ledger verify|consistency|monitor|witness-key`: checks that need only the log's
public key, and the monitor (a witness when it cosigns) that holds a log to its own past.

The log they read (`--log`) is a database URL, a tlog-tiles directory or an http(s) URL of a
log served in that layout (cli/ledger_remote.py); nothing it serves is trusted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from elsewhere import paths
from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.inputs import read_input
from elsewhere.cli.ledger_remote import (
    is_remote,
    keys_for,
    log_source,
    read_keys,
)
from elsewhere.errors import InputError
from elsewhere.i18n import N_, _
from elsewhere.ledger import tiles
from elsewhere.ledger.bundle import verify_bundle
from elsewhere.ledger.canonical import canonical_bytes
from elsewhere.ledger.checkpoint import SignedCheckpoint, open_checkpoint
from elsewhere.ledger.keyfile import create_key_file, load_key_file
from elsewhere.ledger.merkle import prove_consistency
from elsewhere.ledger.monitor import ProofSource, compare, load_state, save_state, split_report
from elsewhere.ledger.note import COSIGNATURE_V1, Verifier, b64decode


def json_entries(data: bytes, where: str) -> list[dict[str, Any]]:
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


def _witnesses(texts: Sequence[str]) -> list[Verifier]:
    return [key for text in texts for key in read_keys(text)]


def cmd_verify(args: argparse.Namespace) -> int:
    data = read_input(args.bundle, "proof bundle")
    entry = None
    if args.entry:
        values = json_entries(read_input(args.entry, "entry"), args.entry)
        entry = canonical_bytes(values[0])
    result = verify_bundle(
        data,
        keys_for(args),
        entry=entry,
        witnesses=_witnesses(args.witness),
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


def _checkpoint_file(path: str, keys: list[Verifier], origin: str | None) -> SignedCheckpoint:
    return open_checkpoint(read_input(path, "checkpoint"), keys, origin=origin)


def _proof_file(path: str) -> ProofSource:
    lines = read_input(path, "consistency proof").decode("utf-8", "replace").split()
    hashes = [b64decode(line, "consistency proof", f"line {n}") for n, line in enumerate(lines, 1)]
    return lambda old, new: hashes


def _tile_proofs(log: tiles.TileLog) -> ProofSource:
    """Consistency proofs computed from the log's tiles (checked against both roots after)."""
    return lambda old, new: prove_consistency(old, new, log.read_nodes(new))


def _proof_source(args: argparse.Namespace) -> ProofSource | None:
    if getattr(args, "proof", None):
        return _proof_file(args.proof)
    if args.log:
        if is_remote(args.log) or "://" not in args.log:
            return _tile_proofs(log_source(args.log, args.ca))
        from elsewhere.ledger.log import Ledger  # a database: SQLAlchemy only when needed

        return Ledger.open(args.log, migrate=False).consistency_proof
    return None


def cmd_consistency(args: argparse.Namespace) -> int:
    keys = keys_for(args)
    old = _checkpoint_file(args.old, keys, args.origin)
    new = _checkpoint_file(args.new, keys, args.origin)
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


def _latest(args: argparse.Namespace, keys: list[Verifier], origin: str) -> SignedCheckpoint:
    if args.checkpoint:
        return _checkpoint_file(args.checkpoint, keys, origin)
    if is_remote(args.log) or "://" not in args.log:
        return open_checkpoint(log_source(args.log, args.ca).checkpoint(), keys, origin=origin)
    from elsewhere.ledger.log import Ledger

    found = Ledger.open(args.log, migrate=False).latest_checkpoint()
    if found is None:
        raise InputError("monitor", args.log, N_("the log has no signed checkpoint"))
    return open_checkpoint(found.to_bytes(), keys, origin=origin)


def cmd_monitor(args: argparse.Namespace) -> int:
    if not (args.checkpoint or args.log):
        raise InputError(
            "monitor", "", N_("give --log (the log) or --checkpoint (one you were shown)")
        )
    keys = keys_for(args)
    origin = args.origin or keys[0].name
    latest = _latest(args, keys, origin)
    state = Path(args.state) if args.state else _default_state(origin)
    previous = load_state(state, keys, origin)
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
        if args.output in (None, "-"):
            sys.stdout.write(cosigned.to_bytes().decode())
        else:
            Path(args.output).write_bytes(cosigned.to_bytes())
    return EXIT_OK


def cmd_witness_key(args: argparse.Namespace) -> int:
    witness = create_key_file(Path(args.key_file), args.name, COSIGNATURE_V1)
    print(witness.verifier.vkey())
    return EXIT_OK


def _default_state(origin: str) -> Path:
    name = hashlib.sha256(origin.encode()).hexdigest()[:16]
    return paths.home() / "ledger" / f"monitor-{name}.json"
