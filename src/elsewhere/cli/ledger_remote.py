"""The ledger as an outside auditor reads it: the log's keys (`--key`), and a log served over
HTTP(S) in the c2sp.org/tlog-tiles layout (`--log https://…`), which `ledger fetch`, `prove`,
`monitor` and `consistency` read with nothing but the log's public key.

`--key` is a file of vkey lines (what `GET /v1/ledger/key` answers: one per key the log signs
or signed with), one literal vkey, or an http(s) URL that answers such lines. A key fetched
from the log itself only holds the log to its own word: pin one obtained over a channel you
trust. `--log https://host[:port]` means that control plane's ledger (`/v1/ledger`); a URL
with a path is taken as the tlog-tiles prefix itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from elsewhere.cli.connect import tls_context
from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.inputs import read_input
from elsewhere.errors import InputError, ParseError, Unreachable
from elsewhere.host.client import network_reason
from elsewhere.i18n import N_, _
from elsewhere.ledger.bundle import Bundle, verify_bundle
from elsewhere.ledger.checkpoint import SignedCheckpoint, open_checkpoint
from elsewhere.ledger.merkle import leaf_hash, prove_inclusion, verify_inclusion
from elsewhere.ledger.mirror import mirror
from elsewhere.ledger.note import Verifier
from elsewhere.ledger.tiles import TileLog

LEDGER_PREFIX = "/v1/ledger"
TIMEOUT = 30.0
POLL = 0.25  # seconds between checkpoint reads while waiting for one to cover an entry


def is_remote(log: str | None) -> bool:
    return bool(log) and str(log).startswith(("http://", "https://"))


def prefix_of(url: str) -> str:
    """The tlog-tiles prefix of `--log URL`: the control plane's ledger unless a path is given."""
    parts = urlsplit(url)
    if not parts.netloc:
        raise InputError("--log", url, N_("not an http(s) URL with a host"))
    base = url.rstrip("/")
    return base + LEDGER_PREFIX if parts.path.strip("/") == "" else base


class Http:
    """GETs under one URL with httpx, verifying TLS against `--ca` (or the system's CAs)."""

    def __init__(self, ca: str | None = None) -> None:
        # The same verification as every client of the CLI (cli/connect.py).
        verify = tls_context(Path(ca) if ca is not None else None)
        self.client = httpx.Client(verify=verify, timeout=TIMEOUT, follow_redirects=False)

    def get(self, url: str) -> bytes:
        try:
            answer = self.client.get(url)
        except httpx.HTTPError as error:  # exit 4, the reason in words, as for the API
            raise Unreachable(url, network_reason(error)) from None
        if answer.status_code != 200:
            line = " ".join(answer.text[:200].split())
            raise InputError("log", url, f"answered {answer.status_code}: {line}")
        return answer.content


def remote_log(url: str, ca: str | None) -> TileLog:
    prefix, http = prefix_of(url), Http(ca)
    return TileLog(lambda path: http.get(f"{prefix}/{path}"))


def log_source(log: str, ca: str | None) -> TileLog:
    """A tile log over HTTP(S), or a tile directory on disk."""
    if is_remote(log):
        return remote_log(log, ca)
    path = Path(log)
    if not path.is_dir():
        raise InputError("--log", log, N_("neither an http(s) URL nor a tile directory"))
    return TileLog(path)


def parse_keys(text: str, where: str) -> list[Verifier]:
    lines = [line.strip() for line in text.splitlines()]
    keys = [Verifier.parse(line) for line in lines if line and not line.startswith("#")]
    if not keys:
        raise ParseError("verifier key", where, "no vkey line")
    return keys


def read_keys(text: str, ca: str | None = None) -> list[Verifier]:
    """The log's keys from `--key`: a URL, a file of vkey lines, or one literal vkey."""
    if is_remote(text):
        return parse_keys(Http(ca).get(text).decode("utf-8", "replace"), text)
    candidate = Path(text)
    if "+" not in text or candidate.is_file():
        data = read_input(text, "verifier key").decode("utf-8", "replace")
        return parse_keys(data, text)
    return [Verifier.parse(text)]


def keys_for(args: argparse.Namespace) -> list[Verifier]:
    """`--key`; without one, a remote `--log`'s own key listing (said on stderr)."""
    ca = getattr(args, "ca", None)
    if args.key:
        return read_keys(args.key, ca)
    log = getattr(args, "log", None)
    if not is_remote(log):
        raise InputError("--key", "", N_("the log's verifier key is needed (vkey, file or URL)"))
    url = prefix_of(str(log)) + "/key"
    print(
        "elsewhere: "
        + _("no --key: using the key {url} names; it holds the log only to its own word").format(
            url=url
        ),
        file=sys.stderr,
    )
    return read_keys(url, ca)


def key_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    help_text = "the log's verifier key: a vkey, a file of vkey lines, or a URL serving them"
    if not required:
        help_text += " (default with an https --log: the log's own /key)"
    parser.add_argument("--key", required=required, metavar="VKEY|FILE|URL", help=help_text)
    parser.add_argument("--origin", help="expected origin (default: the key's name)")


def ca_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca", metavar="FILE", help="CA file the log's TLS certificate chains to")


# --- commands ----------------------------------------------------------------------------


def cmd_fetch(args: argparse.Namespace) -> int:
    log = log_source(args.log, args.ca)
    out = Path(args.output) if args.output else None
    done = mirror(log, keys_for(args), args.origin, out)
    signed = done.checkpoint
    print(
        _(
            "verified: {origin} size {size}: every entry and tile ({files} files) gives the "
            "root its checkpoint signs"
        ).format(origin=signed.origin, size=signed.size, files=done.files)
    )
    if out is not None:
        print(_("written to {directory} (tlog-tiles; checkpoint last)").format(directory=out))
    return EXIT_OK


def _covering(log: TileLog, args: argparse.Namespace, keys: list[Verifier]) -> SignedCheckpoint:
    """The log's checkpoint once it covers entry `args.index`: the log signs soon after each
    commit, so wait up to --wait seconds for it."""
    deadline = time.monotonic() + max(0.0, args.wait)
    while True:
        signed = open_checkpoint(log.checkpoint(), keys, origin=args.origin)
        if args.index < signed.size or time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    if args.index >= signed.size:
        raise InputError(
            "ledger prove",
            f"entry {args.index}",
            _("not in the log's latest signed checkpoint (size {size})").format(size=signed.size),
        )
    return signed


def prove_remote(args: argparse.Namespace) -> int:
    """The inclusion proof of entry INDEX, computed from the log's tiles and checked against
    its signed checkpoint; written as a tlog-proof bundle (`ledger verify` reads it)."""
    if args.index < 0:
        raise InputError("ledger prove", f"entry {args.index}", N_("must not be negative"))
    log = remote_log(args.log, args.ca)
    keys = keys_for(args)
    signed = _covering(log, args, keys)
    proof = prove_inclusion(args.index, signed.size, log.read_nodes(signed.size))
    entry = log.entry(args.index, signed.size)
    verify_inclusion(args.index, signed.size, leaf_hash(entry), proof, signed.root)
    bundle = Bundle(args.index, tuple(proof), signed, entry).to_bytes()
    checked = verify_bundle(bundle, keys, origin=args.origin)
    if args.output in (None, "-"):
        sys.stdout.write(bundle.decode())
    else:
        Path(args.output).write_bytes(bundle)
    print(
        _("verified: entry {index} ({kind}) is in {origin} at size {size}").format(
            index=checked.index,
            kind=checked.entry.get("kind", "?"),
            origin=signed.origin,
            size=signed.size,
        ),
        file=sys.stderr,
    )
    return EXIT_OK


def register_fetch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fetch", help="download a tlog-tiles log and verify all of it")
    p.add_argument("--log", required=True, metavar="URL|DIR", help="https://control-plane or DIR")
    key_options(p, required=False)
    ca_option(p)
    p.add_argument("-o", "--output", metavar="DIR", help="write what verified as tlog-tiles")
    p.set_defaults(handler=cmd_fetch)
