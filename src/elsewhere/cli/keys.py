"""`elsewhere keys init|show|rotate-kek|rotate-signing|rewrap DIR`: the key directory that every
replica of one control plane is started with (`serve --keys DIR`; docs/scale-out.md).

Every command prints key ids only, never a key. Rotation adds keys and removes none: after a
rotation restart every replica (each reads the directory at start), then `keys rewrap`
moves every stored secret to the new KEK; only then may an operator delete an old KEK file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.cli.serve import add_store_args
from elsewhere.cli.table import add_json_flag, print_json
from elsewhere.errors import ConfigError

KEYS_ENV = "ELSEWHERE_KEYS"


def add_keys_arg(parser: argparse.ArgumentParser, *, positional: bool = False) -> None:
    if positional:
        parser.add_argument("dir", type=Path, help="the key directory (mode 0700)")
        return
    configured = os.environ.get(KEYS_ENV)
    parser.add_argument(
        "--keys",
        type=Path,
        default=Path(configured) if configured else None,
        metavar="DIR",
        help="shared key directory from `elsewhere keys init` (env ELSEWHERE_KEYS); "
        "default: keys in the data directory (one replica only)",
    )


def register(commands: Any) -> None:
    group = commands.add_parser(
        "keys", help="the key directory replicas share: init, rotate, rewrap"
    )
    sub = group.add_subparsers(title="keys commands", metavar="COMMAND")
    init = sub.add_parser("init", help="create a key directory: a KEK, a result key, a log key")
    add_keys_arg(init, positional=True)
    init.add_argument(
        "--origin",
        default="elsewhere.local/control-plane",
        help="the ledger's origin (its key's name); every replica's log has this origin",
    )
    add_json_flag(init)
    init.set_defaults(handler=run_init)
    for name, text, handler in (
        ("show", "list the directory's key ids (current last)", run_show),
        ("rotate-kek", "add a new current KEK (older ones still unwrap)", run_rotate_kek),
        (
            "rotate-signing",
            "add new current result-signing and log keys (older ones stay published)",
            run_rotate_signing,
        ),
    ):
        command = sub.add_parser(name, help=text)
        add_keys_arg(command, positional=True)
        add_json_flag(command)
        command.set_defaults(handler=handler)
    rewrap = sub.add_parser(
        "rewrap", help="wrap every stored secret under the current KEK (run after rotate-kek)"
    )
    add_keys_arg(rewrap, positional=True)
    add_store_args(rewrap)
    add_json_flag(rewrap)
    rewrap.set_defaults(handler=run_rewrap)


def _report(args: argparse.Namespace, summary: dict[str, Any], headline: str) -> int:
    if args.json:
        print_json(summary)
        return EXIT_OK
    print(headline)
    for key, value in summary.items():
        print(f"  {key}: {value}")
    return EXIT_OK


def run_init(args: argparse.Namespace) -> int:
    from elsewhere.control.keys.directory import init_keys

    keys = init_keys(args.dir, args.origin)
    return _report(args, keys.summary(), f"created key directory {args.dir}")


def run_show(args: argparse.Namespace) -> int:
    from elsewhere.control.keys.directory import load_keys

    return _report(args, load_keys(args.dir).summary(), f"key directory {args.dir}")


def run_rotate_kek(args: argparse.Namespace) -> int:
    from elsewhere.control.keys.directory import rotate_kek

    keys = rotate_kek(args.dir)
    headline = (
        f"new KEK {keys.kek.id} in {args.dir}: restart every replica, then "
        "`elsewhere keys rewrap` (older KEKs unwrap until then)"
    )
    return _report(args, keys.summary(), headline)


def run_rotate_signing(args: argparse.Namespace) -> int:
    from elsewhere.control.keys.directory import rotate_signing

    keys = rotate_signing(args.dir)
    headline = (
        f"new result key {keys.result_signer.kid} and log key in {args.dir}: restart every "
        "replica; the older keys stay in the JWKS and the log's verifier list"
    )
    return _report(args, keys.summary(), headline)


def run_rewrap(args: argparse.Namespace) -> int:
    from elsewhere.control.broker.secrets import rewrap_secrets
    from elsewhere.control.config import ControlConfig, default_data_dir, default_database_url
    from elsewhere.control.keys.directory import load_keys
    from elsewhere.control.store.transactions import open_engine, write
    from elsewhere.db import upgrade

    keys = load_keys(args.dir)
    url = args.database or default_database_url(args.data_dir or default_data_dir())
    ControlConfig.for_dir(args.data_dir, url)  # the data directory exists, as for serve
    upgrade(url)
    engine = open_engine(url)
    try:
        with write(engine) as conn:
            done, unknown = rewrap_secrets(conn, keys.kek)
    finally:
        engine.dispose()
    summary = {"kek": keys.kek.id, "rewrapped": done, "unknown_kek": unknown}
    if unknown:
        if args.json:
            print_json(summary)
        raise ConfigError(
            "keys rewrap",
            f"{len(unknown)} secrets",
            "stored under a KEK this directory does not hold (not changed): "
            + ", ".join(unknown[:5]),
        )
    return _report(args, summary, f"{done} secrets now wrapped under KEK {keys.kek.id}")
