"""How every API client of the CLI connects (tenant commands, operator commands, the host
agent): one set of options, one resolution, one client.

Each setting comes from, in order: its option, its environment variable, the profile
(cli/profiles.py), the default.

    --control URL       ELSEWHERE_CONTROL     url         default http://127.0.0.1:8080
    --ca FILE           ELSEWHERE_CA          ca          default: the system's trust store
    --token-file FILE   ELSEWHERE_TOKEN_FILE  token_file  (mode 0600)
    --token TOKEN       ELSEWHERE_TOKEN                   (visible in `ps`: prefer a file)
    --profile NAME      ELSEWHERE_PROFILE                 default: the profile `default`

Plain http:// is refused to anything but a loopback address (the token and the tenant's
secrets would cross the network in clear) unless `--insecure-http`; then every line the
command prints is flagged.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from elsewhere.cli.profiles import Profile, load_profile
from elsewhere.errors import ConfigError
from elsewhere.i18n import N_, _

if TYPE_CHECKING:  # imported where used: `--help` of every command must not load httpx
    from elsewhere.host.client import Client

DEFAULT_URL = "http://127.0.0.1:8080"
INSECURE_FLAG = "[INSECURE HTTP] "


def add_client_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (docs/cli.md, Connecting)")
    group.add_argument(
        "--control",
        default=None,
        help="control-plane URL (env ELSEWHERE_CONTROL; default http://127.0.0.1:8080)",
    )
    group.add_argument(
        "--ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="CA bundle (PEM) to verify the server's certificate (env ELSEWHERE_CA; default "
        "the system's trust store)",
    )
    group.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file holding the API token, mode 0600 (env ELSEWHERE_TOKEN_FILE)",
    )
    group.add_argument(
        "--token",
        default=None,
        help="API token (env ELSEWHERE_TOKEN); on the command line it shows in `ps`: prefer "
        "--token-file",
    )
    group.add_argument(
        "--profile",
        default=None,
        metavar="NAME",
        help="profile of ~/.config/elsewhere/config.toml (env ELSEWHERE_PROFILE)",
    )
    group.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow plain http:// to a non-loopback address: the token and every secret "
        "cross the network in clear (every output line says so)",
    )


def tenant_command(sub: Any, name: str, *, help: str, handler: Any) -> argparse.ArgumentParser:
    """A leaf command that talks to the API: client options, --json and its handler.
    `help=` by keyword: the catalogue's extractor reads argparse help literals by keyword."""
    from elsewhere.cli.table import add_json_flag

    parser: argparse.ArgumentParser = sub.add_parser(name, help=help)
    add_json_flag(parser)
    add_client_args(parser)
    parser.set_defaults(handler=handler)
    return parser


@dataclass(frozen=True)
class Connection:
    url: str
    ca: Path | None
    token: str | None
    insecure: bool  # plain HTTP beyond loopback, allowed by --insecure-http


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def _read_token(path: Path, source: str) -> str:
    from elsewhere.privatefile import read_private

    token = read_private(path, what=f"token file ({source})").decode("utf-8", "replace").strip()
    if not token or any(c.isspace() for c in token):
        raise ConfigError(f"token file ({source})", str(path), N_("expected one token"))
    return token


def _token(args: argparse.Namespace, profile: Profile | None) -> str | None:
    flag_file, flag = getattr(args, "token_file", None), getattr(args, "token", None)
    if flag_file is not None and flag:
        raise ConfigError("--token", "--token-file", N_("give one of them, not both"))
    if flag_file is not None:
        return _read_token(flag_file, "--token-file")
    if flag:
        return str(flag)
    if os.environ.get("ELSEWHERE_TOKEN_FILE"):
        return _read_token(Path(os.environ["ELSEWHERE_TOKEN_FILE"]), "ELSEWHERE_TOKEN_FILE")
    if os.environ.get("ELSEWHERE_TOKEN"):
        return os.environ["ELSEWHERE_TOKEN"]
    if profile is not None and profile.token_file is not None:
        return _read_token(profile.token_file, f"profile {profile.name}")
    return None


def connection(args: argparse.Namespace) -> Connection:
    """The URL, CA and token this command uses, checked (one line on a bad one)."""
    profile = load_profile(getattr(args, "profile", None) or os.environ.get("ELSEWHERE_PROFILE"))
    url = (
        getattr(args, "control", None)
        or os.environ.get("ELSEWHERE_CONTROL")
        or (profile.url if profile else None)
        or DEFAULT_URL
    )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("--control", url, N_("expected an http:// or https:// URL"))
    env_ca = os.environ.get("ELSEWHERE_CA")
    ca = getattr(args, "ca", None) or (Path(env_ca) if env_ca else None)
    ca = ca or (profile.ca if profile else None)
    insecure = False
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        if not getattr(args, "insecure_http", False):
            raise ConfigError(
                "--control",
                url,
                N_(
                    "plain HTTP to a non-loopback address would send the token and secrets in "
                    "clear; use https:// (with --ca FILE) or give --insecure-http"
                ),
            )
        insecure = True
    return Connection(url, ca, _token(args, profile), insecure)


def tls_context(ca: Path | None) -> ssl.SSLContext:
    """Verification of the server: against `ca` if given, else the system's trust store."""
    try:
        return ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    except FileNotFoundError:
        raise ConfigError("--ca", str(ca), N_("not found")) from None
    except (ssl.SSLError, OSError):
        raise ConfigError("--ca", str(ca), N_("not a PEM certificate bundle")) from None


class _Flagged:
    """stdout with every line flagged: the command talks to the server in clear."""

    def __init__(self, inner: IO[str]) -> None:
        self.inner, self.at_start = inner, True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            if self.at_start:
                out.append(INSECURE_FLAG)
            out.append(piece)
            self.at_start = piece.endswith("\n")
        self.inner.write("".join(out))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def flag_insecure(args: argparse.Namespace, url: str) -> None:
    """`--insecure-http` in force: say so on stderr, and on every line of stdout unless it is
    one JSON document (which must stay parseable; the warning on stderr stands for it)."""
    print(
        _(
            "WARNING: plain HTTP to {url}: the token and every secret cross the network in clear"
        ).format(url=url),
        file=sys.stderr,
    )
    if not getattr(args, "json", False) and not isinstance(sys.stdout, _Flagged):
        sys.stdout = _Flagged(sys.stdout)  # cli.main restores it


def client(args: argparse.Namespace) -> Client:
    """The API client of this command, connected as its options, environment and profile say."""
    found = connection(args)
    if not found.token:
        raise ConfigError(
            "token",
            "--token-file",
            N_("give an API token: --token-file FILE, ELSEWHERE_TOKEN_FILE or a profile"),
        )
    from elsewhere.host.client import Client

    verify = tls_context(found.ca) if found.url.startswith("https:") else True
    if found.insecure:
        flag_insecure(args, found.url)
    args.control = found.url  # what commands print ("polling …") is what is used
    return Client(found.url, found.token, verify=verify)
