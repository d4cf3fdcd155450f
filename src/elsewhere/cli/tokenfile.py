"""Where a new token goes: printed once, or written to `--token-file FILE` (mode 0600), so
that it never has to be copied from a terminal onto another command line (where `ps` shows
it). Shared by `tenant create|token`, `host-token create` and `operator-token create`."""

from __future__ import annotations

import argparse
from pathlib import Path

from elsewhere.cli.table import print_json
from elsewhere.errors import ConfigError
from elsewhere.i18n import N_, _


def add_token_file_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the token to FILE (mode 0600, which must not exist) instead of printing it",
    )


def check_token_file(args: argparse.Namespace) -> None:
    """Refuse an existing --token-file before the token is made: a token that could not be
    written would be lost (only its SHA-256 is kept), yet valid."""
    path: Path | None = args.token_file
    if path is not None and (path.exists() or path.is_symlink()):
        raise ConfigError("--token-file", str(path), N_("exists; refusing to overwrite"))


def give_token(args: argparse.Namespace, token: str, shown: dict[str, str]) -> None:
    """Print `shown` plus the token as JSON (--json), or the token on its own line; with
    --token-file, write it there instead and print where."""
    path: Path | None = args.token_file
    if path is not None:
        from elsewhere.privatefile import write_private

        write_private(path, token.encode() + b"\n", what="--token-file")
    if args.json:
        print_json({**shown, **({"token_file": str(path)} if path else {"token": token})})
    elif path is not None:
        print(_("token written to {path} (mode 0600; shown nowhere else)").format(path=path))
    else:
        print(f"token: {token}")
