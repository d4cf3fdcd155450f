"""`elsewhere custodian`: run one independent custodian of a data commons (docs/commons.md).

Exit codes: 0 done, 2 unusable input or configuration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.custodian.keys import init_dir, load_dir
from elsewhere.custodian.server import serve


def cmd_init(args: argparse.Namespace) -> int:
    public = init_dir(Path(args.dir), args.name)
    print(json.dumps(public | {"url": args.url}, indent=2))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from elsewhere.cli.inputs import check_port

    check_port(args.port)
    config = load_dir(
        Path(args.dir),
        Path(args.roster),
        Path(args.policy),
        [Path(p) for p in args.trust_emulated_root],
        args.database_url,
        Path(args.peer_ca) if args.peer_ca else None,
    )
    if config.anchors:
        print(
            f"custodian {config.name}: trusts {len(config.anchors)} EMULATED root(s): "
            "evidence under them gives NO hardware protection",
            flush=True,
        )
    serve(config, args.host, args.port, Path(args.tls_cert), Path(args.tls_key))
    return EXIT_OK


def register(commands: Any) -> None:
    group = commands.add_parser("custodian", help="an independent custodian of a data commons")
    sub = group.add_subparsers(title="custodian commands", metavar="COMMAND")
    p = sub.add_parser(
        "init", help="create a custodian's keys; print its public part (for the roster)"
    )
    p.add_argument("--dir", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--url", default="", help="where parties will reach it (for the roster)")
    p.set_defaults(handler=cmd_init)
    p = sub.add_parser("serve", help="serve the custodian over TLS")
    p.add_argument("--dir", required=True)
    p.add_argument("--roster", required=True, help="the commons roster (JSON), from your own party")
    p.add_argument("--policy", required=True, help="this custodian's TEE policy (TOML)")
    p.add_argument(
        "--trust-emulated-root",
        action="append",
        default=[],
        metavar="PEM",
        help="trust an EMULATED platform root (no hardware protection)",
    )
    p.add_argument("--database-url", default=None, help="default: sqlite in --dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--tls-cert", required=True)
    p.add_argument("--tls-key", required=True)
    p.add_argument(
        "--peer-ca",
        default=None,
        metavar="PEM",
        help="CA file the other custodians' TLS certificates chain to (vetoes are "
        "forwarded to them and asked of them); default: the system's",
    )
    p.set_defaults(handler=cmd_serve)
