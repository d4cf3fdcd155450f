"""`elsewhere serve`: the control plane's HTTP API (uvicorn) over SQLite or PostgreSQL.

TLS: `--tls-cert FILE --tls-key FILE` (env ELSEWHERE_TLS_CERT / ELSEWHERE_TLS_KEY), or
`--tls auto`: a development CA kept in the data directory's `tls/` and a server certificate
for the listen host from it (crypto/devtls.py). Plain HTTP beyond loopback is warned about on
every start.

Also the operator's shared options (`--data-dir`, `--database`, used directly on the store);
the API client's are cli/connect.py's (re-exported here for the modules that import them).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elsewhere.cli.connect import add_client_args, client, is_loopback, tenant_command
from elsewhere.cli.exitcodes import EXIT_OK
from elsewhere.errors import ConfigError
from elsewhere.i18n import N_, _

if TYPE_CHECKING:  # imported where used: `--help` of every command must not load them
    from elsewhere.control.config import ControlPlane
    from elsewhere.control.serve.edge import TLSFiles
    from elsewhere.evidence.anchors import TrustAnchor

__all__ = ["add_client_args", "client", "tenant_command"]  # cli/connect.py's, for importers


EMULATED_ROOTS_DIR = "emulated-roots"  # in the data directory


def add_store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="control-plane data directory (keys, SQLite file); default $ELSEWHERE_HOME/control",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("ELSEWHERE_DATABASE"),
        help="database URL: sqlite:///FILE or postgresql://…; default SQLite in the data dir",
    )


def open_plane(args: argparse.Namespace, **config: Any) -> ControlPlane:
    from elsewhere.control.config import ControlConfig, ControlPlane

    return ControlPlane.open(ControlConfig.for_dir(args.data_dir, args.database, **config))


def register(commands: Any) -> None:
    from elsewhere.cli.keys import add_keys_arg

    serve = commands.add_parser("serve", help="run the control plane's HTTP API")
    add_store_args(serve)
    add_keys_arg(serve)  # replicas: every one with the same --keys and --database
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    serve.add_argument("--port", type=int, default=8080)
    tls = serve.add_argument_group("TLS (docs/deploy.md)")
    tls.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="FILE",
        help="server certificate chain, PEM (env ELSEWHERE_TLS_CERT)",
    )
    tls.add_argument(
        "--tls-key",
        type=Path,
        default=None,
        metavar="FILE",
        help="the certificate's private key, PEM (env ELSEWHERE_TLS_KEY)",
    )
    tls.add_argument(
        "--tls",
        choices=["auto"],
        default=None,
        help="auto: a DEVELOPMENT CA in the data directory (made once) and a certificate for "
        "--host from it; clients give its ca.pem to --ca",
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default 1)"
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one log line per HTTP request (default on; every attestation decision is "
        "recorded in the ledger either way)",
    )
    serve.add_argument(
        "--trust-emulated-root",
        action="append",
        type=Path,
        default=[],
        metavar="PEM",
        help="accept evidence chaining to this EMULATED root (no hardware protection); "
        "tenants' policies must still allow emulated evidence",
    )
    serve.add_argument(
        "--emulated-roots",
        type=Path,
        default=None,
        metavar="DIR",
        help="trust the EMULATED roots in DIR, re-read when a file is added (no hardware "
        "protection); default <data-dir>/emulated-roots/ when it exists",
    )
    serve.add_argument(
        "--attest-refusal-limit",
        type=int,
        default=3,
        metavar="N",
        help="assign no more work to a host after N attestations in a row it could not make "
        "(default 3); its replicas are re-placed",
    )
    risk = serve.add_argument_group("risk placement (docs/control-plane.md)")
    risk.add_argument("--risk-currency", default="USD", help="currency of every impact/budget")
    risk.add_argument(
        "--default-impact", default="100", help="impact of a deployment that declares none"
    )
    risk.add_argument(
        "--default-risk-budget", default="10000", help="per year, for a tenant that set none"
    )
    risk.add_argument(
        "--trial-allowance",
        type=float,
        default=10_000.0,
        help="value a host with no record may hold under the growth and exit caps",
    )
    serve.set_defaults(handler=run_serve)


def risk_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The risk settings of `serve`, checked (one line on a bad value)."""
    from decimal import Decimal, InvalidOperation

    currency = str(args.risk_currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ConfigError("--risk-currency", args.risk_currency, "expected a 3-letter code")
    for flag, value in (
        ("--default-impact", args.default_impact),
        ("--default-risk-budget", args.default_risk_budget),
    ):
        try:
            ok = Decimal(value) > 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise ConfigError(flag, str(value), f"expected a positive amount in {currency}")
    if not args.trial_allowance >= 0:
        raise ConfigError("--trial-allowance", str(args.trial_allowance), "must not be negative")
    return {
        "risk_currency": currency,
        "default_impact": str(args.default_impact),
        "default_risk_budget": str(args.default_risk_budget),
        "trial_allowance": float(args.trial_allowance),
    }


def emulated_anchors(paths: list[Path]) -> list[TrustAnchor]:
    from elsewhere.evidence.anchors import TrustAnchor

    anchors = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ConfigError("emulated root", str(path), error.strerror or "unreadable") from None
        anchors.append(TrustAnchor.emulated_root(data, str(path)))
    return anchors


def emulated_roots_dir(args: argparse.Namespace) -> Path | None:
    """--emulated-roots DIR (which must exist), else <data-dir>/emulated-roots/ if it exists:
    creating that directory is how an operator opts in."""
    from elsewhere.control.config import default_data_dir

    if args.emulated_roots is not None:
        if not args.emulated_roots.is_dir():
            raise ConfigError("--emulated-roots", str(args.emulated_roots), N_("not a directory"))
        return Path(args.emulated_roots)
    default = (args.data_dir or default_data_dir()) / EMULATED_ROOTS_DIR
    return default if default.is_dir() else None


def tls_files(args: argparse.Namespace, data_dir: Path) -> TLSFiles | None:
    """The certificate and key to serve with, checked before anything listens (None: plain
    HTTP). `--tls auto` issues them in `data_dir`/tls and says where its CA is."""
    from elsewhere.control.serve.edge import TLSFiles

    cert = args.tls_cert or (
        Path(os.environ["ELSEWHERE_TLS_CERT"]) if os.environ.get("ELSEWHERE_TLS_CERT") else None
    )
    key = args.tls_key or (
        Path(os.environ["ELSEWHERE_TLS_KEY"]) if os.environ.get("ELSEWHERE_TLS_KEY") else None
    )
    if args.tls == "auto":
        if cert is not None or key is not None:
            raise ConfigError("--tls auto", "--tls-cert", N_("give one of them, not both"))
        from elsewhere.crypto.devtls import auto_tls

        made = auto_tls(data_dir / "tls", args.host)
        print(
            _(
                "TLS: DEVELOPMENT CA {ca} ({state}; its key is on this disk: for development "
                "only); give it to clients with --ca"
            ).format(ca=made.ca, state=_("created now") if made.created_ca else _("reused"))
        )
        return TLSFiles(made.server.cert, made.server.key)
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert", "--tls-key", N_("give both, or --tls auto"))
    if cert is None or key is None:
        return None
    files = TLSFiles(cert, key)
    files.check()
    return files


def run_serve(args: argparse.Namespace) -> int:
    from elsewhere.cli.inputs import check_port
    from elsewhere.control.serve.server import serve, serve_workers

    check_port(args.port)
    if args.workers < 1:
        raise ConfigError("--workers", str(args.workers), N_("at least 1"))
    if args.attest_refusal_limit < 1:
        raise ConfigError(
            "--attest-refusal-limit", str(args.attest_refusal_limit), N_("at least 1")
        )
    anchors = emulated_anchors(args.trust_emulated_root)
    roots_dir = emulated_roots_dir(args)
    risk = risk_settings(args)
    cp = open_plane(  # migrates
        args,
        trust_emulated=bool(anchors) or roots_dir is not None,
        emulated_roots_dir=roots_dir,
        attest_refusal_limit=args.attest_refusal_limit,
        keys_dir=args.keys,
        **risk,
    )
    tls = tls_files(args, cp.config.data_dir)
    cp.emulated_anchors = tuple(anchors)
    for anchor in anchors:
        print(
            _("WARNING: trusting EMULATED root {name} — no hardware protection").format(
                name=anchor.name
            )
        )
    if roots_dir is not None:
        print(
            _(
                "WARNING: trusting the EMULATED roots in {directory} (re-read when a file is "
                "added) — no hardware protection; {count} there now"
            ).format(directory=roots_dir, count=len(cp.trusted_emulated_roots()) - len(anchors))
        )
    if tls is None and not is_loopback(args.host):
        print(
            _(
                "WARNING: plain HTTP on {host}, beyond loopback: tokens and tenant secrets "
                "cross the network in clear; serve with --tls-cert/--tls-key or --tls auto"
            ).format(host=args.host)
        )
    host = f"[{args.host}]" if ":" in args.host else args.host
    scheme = "https" if tls is not None else "http"
    print(
        _("elsewhere control plane on {url} (docs at /docs)").format(
            url=f"{scheme}://{host}:{args.port}"
        )
    )
    database = cp.engine.url.render_as_string(hide_password=True)
    print(_("database: {url}").format(url=database), flush=True)
    if args.workers == 1:
        serve(cp, args.host, args.port, access_log=args.access_log, tls=tls)
        return EXIT_OK
    data_dir, url = cp.config.data_dir, cp.config.database_url
    cp.close()
    return serve_workers(
        data_dir,
        url,
        args.trust_emulated_root,
        args.host,
        args.port,
        args.workers,
        risk,
        access_log=args.access_log,
        keys=args.keys,
        emulated_roots=roots_dir,
        attest_refusal_limit=args.attest_refusal_limit,
        tls=tls,
    )
