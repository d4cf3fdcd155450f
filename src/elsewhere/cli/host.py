"""`elsewhere host`: run a host agent; `elsewhere host-token create`: a token for one host.

Registration: the operator runs `elsewhere host-token create` on the control plane's machine
and gives the token to the host; the first agent that registers with it becomes that host,
and it stays the host's credential (restarts re-register as the same host).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from elsewhere.attest import AttesterKind, make_attester, probe
from elsewhere.claims import EMULATED_WARNING, NIL_WARNING
from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.serve import add_client_args, add_store_args, client, open_plane
from elsewhere.cli.table import add_json_flag
from elsewhere.cli.tokenfile import add_token_file_arg, check_token_file, give_token
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind, create_credential
from elsewhere.crypto.hpke import DEFAULT_SUITE, SUITES, suite_named
from elsewhere.host.agent import HostAgent, Outcome
from elsewhere.i18n import _, localize
from elsewhere.keep.scratch import sweep_leftovers

# Each ends the agent the same way: stop polling, stop (and if need be kill) every keep,
# remove every keep's secrets, exit 0. SIGKILL cannot be caught: the next start sweeps.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def register(commands: Any) -> None:
    host = commands.add_parser("host", help="run a host agent: register, pull work, run keeps")
    add_client_args(host)
    host.add_argument("--attester", required=True, choices=[k.value for k in AttesterKind])
    host.add_argument("--name", default=socket.gethostname())
    host.add_argument("--capacity", type=int, default=4, help="keeps run at once")
    host.add_argument("--state-dir", type=Path, default=None, help="attester state (emulated)")
    host.add_argument("--generation", default=None, help="emulated-snp only: Milan, Genoa or Turin")
    host.add_argument(
        "--suite",
        default=DEFAULT_SUITE.name,
        choices=sorted(SUITES),
        help="each keep's HPKE key: ML-KEM-768 + X25519, a quantum-resistant hybrid (default), "
        "or X25519 alone (not quantum-resistant)",
    )
    host.set_defaults(handler=run_host)

    tokens = commands.add_parser("host-token", help="host registration tokens (operator)")
    sub = tokens.add_subparsers(title="host-token commands", metavar="COMMAND")
    create = sub.add_parser("create", help="print a new host token once")
    create.add_argument("--name", default="host")
    add_token_file_arg(create)
    add_json_flag(create)
    add_store_args(create)
    create.set_defaults(handler=run_token)


def run_token(args: argparse.Namespace) -> int:
    check_token_file(args)
    cp = open_plane(args)
    with write(cp.engine) as conn:
        token = create_credential(conn, Kind.HOST, args.name)
    give_token(args, token, {"name": args.name})
    if args.json:
        return EXIT_OK
    print(
        _("give it to one host: {command}; it becomes that host's credential").format(
            command=f"`elsewhere host --token-file {args.token_file or 'FILE'} …`"
        )
    )
    return EXIT_OK


def _print(outcome: Outcome) -> None:
    if outcome.verdict == "refused":  # the attester failed: the control plane re-places it
        print(
            _("placement {placement}: cannot attest, re-placed: {why}").format(
                placement=outcome.placement, why=outcome.error or ""
            )
        )
        return
    if outcome.verdict == "affirming":
        ended = (
            _("exit code {code}").format(code=outcome.exit_code)
            if outcome.exit_code is not None
            else _("no exit code: {why}").format(
                why=outcome.error or _("the keep ended without one")
            )
        )
        print(
            _("placement {placement}: released, {ended}").format(
                placement=outcome.placement, ended=ended
            )
        )
    else:
        why = "; ".join(localize(r) for r in outcome.reasons) or localize(outcome.error or "")
        print(
            _("placement {placement}: {verdict}: {why}").format(
                placement=outcome.placement, verdict=localize(outcome.verdict), why=why
            )
        )


def run_host(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    options = {"generation": args.generation} if args.generation else {}
    attester = make_attester(args.attester, args.state_dir, **options)
    if args.attester == "nil":
        print(_("WARNING: {warning}").format(warning=localize(NIL_WARNING)))
    elif args.attester.startswith("emulated"):
        print(_("WARNING: {warning}").format(warning=localize(EMULATED_WARNING)))
        platform = getattr(attester, "platform", None)
        if platform is not None:
            print(
                _(
                    "emulated root: {path} (copy it into the control plane's emulated-roots "
                    "directory, or start it with --trust-emulated-root PATH)"
                ).format(path=platform.root_path)
            )
        if args.attester == "emulated-tdx" and platform is not None:
            print(
                _("emulated collateral for the control plane: {command}").format(
                    command=f"elsewhere emulate tdx-collateral {platform.directory} -o FILE"
                )
            )
    # Before registering: a host that cannot attest must not take work (exit 5, one line).
    probe(attester)
    agent = HostAgent(
        client(args),
        attester,
        name=args.name,
        capacity=args.capacity,
        on_outcome=_print,
        suite=suite_named(args.suite),
    )
    for left in sweep_leftovers():
        print(
            _(
                "removed {path}: a keep's scratch directory left by an agent that did not stop"
            ).format(path=left)
        )
    with _stopping_on_signals(agent):
        try:
            host_id = agent.register()
            print(
                _("host {name} registered as {id}; polling {url}").format(
                    name=args.name, id=host_id, url=args.control
                ),
                flush=True,
            )
            agent.run()
        finally:
            agent.stop()
    return EXIT_OK


@contextlib.contextmanager
def _stopping_on_signals(agent: HostAgent) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP ask the agent to stop: its loop ends, then `stop()` runs.
    Only a flag (no lock, no exception), so a signal never cuts the clean-up short."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        agent.request_stop()

    previous = {number: signal.signal(number, handle) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
