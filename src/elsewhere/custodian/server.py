"""Open a custodian (its store migrated, its ledger) and serve it over TLS with uvicorn."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

import uvicorn

from elsewhere.control.store.transactions import open_engine
from elsewhere.custodian.app import create_app
from elsewhere.custodian.keys import CustodianConfig
from elsewhere.custodian.peers import Forwarder, Peers
from elsewhere.custodian.service import Custodian
from elsewhere.db.migrate import upgrade
from elsewhere.errors import ConfigError
from elsewhere.ledger.log import Ledger


def open_custodian(config: CustodianConfig) -> Custodian:
    """The custodian with its store migrated; its veto forwarder made, not started."""
    upgrade(config.database_url)
    engine = open_engine(config.database_url)
    ledger = Ledger(engine, config.log_signer.name, config.log_signer)
    ledger.store.ensure_state(config.log_signer.name)
    peers = Peers(config.name, config.roster, config.peer_ca)
    return Custodian(config, engine, ledger, peers, Forwarder(engine, peers))


def serve(config: CustodianConfig, host: str, port: int, cert: Path, key: Path) -> None:
    """Serve until interrupted. Prints one line with the URL once the socket listens (port 0
    picks a free port), so a supervisor can wait on it."""
    for path in (cert, key):
        if not path.is_file():
            raise ConfigError("custodian serve", str(path), "TLS file not found")
    custodian = open_custodian(config)
    # The forwarder's lines (acknowledged, retrying, given up) go to stderr, one per event.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"custodian {config.name}: %(message)s"))
    logging.getLogger("elsewhere.custodian").addHandler(handler)
    logging.getLogger("elsewhere.custodian").setLevel(logging.INFO)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        raise ConfigError(
            "custodian serve", f"{host}:{port}", error.strerror or "cannot bind"
        ) from None
    sock.listen(128)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(custodian),
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )
    print(
        f"custodian {config.name} listening on https://{host}:{sock.getsockname()[1]}", flush=True
    )
    sys.stdout.flush()
    assert custodian.forwarder is not None
    custodian.forwarder.start()  # resumes forwards left pending by an earlier run
    try:
        server.run(sockets=[sock])
    finally:
        custodian.forwarder.stop()
        custodian.peers.close()
