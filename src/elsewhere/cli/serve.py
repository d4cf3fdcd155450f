"""`elsewhere serve`: the control plane's HTTP API (uvicorn) over SQLite or PostgreSQL.

Also the shared options of commands that use the control plane: the operator's (`--data-dir`,
`--database`, used directly on the store) and the API client's (`--control`, `--token`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.errors import EXIT_OK, ConfigError
from elsewhere.evidence.anchors import TrustAnchor
from elsewhere.host.client import Client


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
    return ControlPlane.open(ControlConfig.for_dir(args.data_dir, args.database, **config))


def add_client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--control",
        default=os.environ.get("ELSEWHERE_CONTROL", "http://127.0.0.1:8080"),
        help="control-plane URL (env ELSEWHERE_CONTROL)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ELSEWHERE_TOKEN"),
        help="API token (env ELSEWHERE_TOKEN)",
    )


def client(args: argparse.Namespace) -> Client:
    if not args.token:
        raise ConfigError("token", "--token", "give an API token (or set ELSEWHERE_TOKEN)")
    return Client(args.control, args.token)


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the control plane's HTTP API")
    add_store_args(serve)
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default 1)"
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
    serve.set_defaults(handler=run_serve)


def emulated_anchors(paths: list[Path]) -> list[TrustAnchor]:
    anchors = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ConfigError("emulated root", str(path), error.strerror or "unreadable") from None
        anchors.append(TrustAnchor.emulated_root(data, str(path)))
    return anchors


def run_serve(args: argparse.Namespace) -> int:
    from elsewhere.control.server import serve, serve_workers

    if args.workers < 1:
        raise ConfigError("--workers", str(args.workers), "at least 1")
    anchors = emulated_anchors(args.trust_emulated_root)
    cp = open_plane(args, trust_emulated=bool(anchors))  # migrates, creates keys
    cp.extra["emulated_anchors"] = anchors
    for anchor in anchors:
        print(f"WARNING: trusting EMULATED root {anchor.name} — no hardware protection")
    print(f"elsewhere control plane on http://{args.host}:{args.port} (docs at /docs)")
    print(f"database: {cp.engine.url.render_as_string(hide_password=True)}", flush=True)
    if args.workers == 1:
        serve(cp, args.host, args.port)
        return EXIT_OK
    data_dir, url = cp.config.data_dir, cp.config.database_url
    cp.close()
    serve_workers(data_dir, url, args.trust_emulated_root, args.host, args.port, args.workers)
    return EXIT_OK
