"""Settings of one control-plane instance and the long-lived objects built from them."""

from __future__ import annotations

import datetime as dt
import os
import secrets as random
import socket
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from elsewhere import paths
from elsewhere.control.broker.nonces import NonceIssuer
from elsewhere.control.broker.secrets import Kek, load_kek
from elsewhere.control.broker.tokens import Signer, load_signer
from elsewhere.control.keys.directory import KeyDirectory, load_keys
from elsewhere.control.store.commit import GroupCommitter
from elsewhere.control.store.transactions import open_engine
from elsewhere.control.tenancy.auth import Credential
from elsewhere.control.trust.emulated_roots import EmulatedRootDirectory
from elsewhere.control.trust.reputation import ReputationCache
from elsewhere.db import DEFAULT_SQLITE_NAME, upgrade
from elsewhere.evidence.anchors import TrustAnchor
from elsewhere.ledger.keyfile import create_key_file
from elsewhere.ledger.log import Ledger

LEDGER_KEY_FILE = "ledger.key"


def default_data_dir() -> Path:
    return paths.state_dir("control")


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / DEFAULT_SQLITE_NAME}"


@dataclass(frozen=True)
class ControlConfig:
    """`trust_emulated` makes the verifier accept emulated roots; the tenant's policy must
    still allow emulated evidence explicitly. Neither gives any hardware protection."""

    data_dir: Path
    database_url: str
    issuer: str = "elsewhere-control-plane"
    nonce_ttl: dt.timedelta = dt.timedelta(seconds=60)
    heartbeat_timeout: dt.timedelta = dt.timedelta(seconds=15)
    result_token_ttl: dt.timedelta = dt.timedelta(hours=1)
    maintenance_interval: float = 1.0
    # The longest one database statement may run (PostgreSQL cancels it; the request is a 503).
    statement_timeout: dt.timedelta = dt.timedelta(seconds=15)
    trust_emulated: bool = False
    # A directory of emulated roots (trust/emulated_roots.py), re-read when its files change,
    # so an emulated host can be added without a restart; trusted only with trust_emulated.
    emulated_roots_dir: Path | None = None
    # A host that reported this many attestations in a row it could not make is assigned no
    # more work until it attests again (or re-registers); its replicas are re-placed.
    attest_refusal_limit: int = 3
    # A shared, operator-provisioned key directory (`elsewhere keys init`): every replica
    # given the same one wraps, signs and logs under the same keys. None: keys in data_dir.
    keys_dir: Path | None = None
    ledger_origin: str = "elsewhere.local/control-plane"
    # Risk placement (docs/control-plane.md): one currency for every impact, budget and
    # reputation value; defaults for a deployment without an impact and a tenant without a
    # budget; and what a host with no record may hold under the growth and exit caps.
    risk_currency: str = "USD"
    default_impact: str = "100"
    default_risk_budget: str = "10000"  # per year
    trial_allowance: float = 10_000.0

    @classmethod
    def for_dir(
        cls, data_dir: Path | None = None, database_url: str | None = None, **kw: object
    ) -> ControlConfig:
        directory = data_dir or default_data_dir()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(
            data_dir=directory,
            database_url=database_url or default_database_url(directory),
            **kw,  # type: ignore[arg-type]
        )


@dataclass
class ControlPlane:
    """Everything a request handler needs: database, keys, settings."""

    config: ControlConfig
    engine: Engine
    kek: Kek
    signer: Signer
    ledger: Ledger
    nonces: NonceIssuer
    committer: GroupCommitter
    # Process-local state: configuration given at start, and caches of rows that can be
    # re-read (none of them decides anything another worker would decide otherwise).
    emulated_anchors: tuple[TrustAnchor, ...] = ()
    emulated_roots: EmulatedRootDirectory | None = None
    auth_cache: dict[str, tuple[Credential, float]] = field(default_factory=dict)
    host_ids: dict[str, str] = field(default_factory=dict)
    reputation_cache: ReputationCache = field(default_factory=ReputationCache)
    # Every key published beside the current one (a key directory's older keys, after a
    # rotation): tokens and checkpoints they signed still verify.
    result_signers: tuple[Signer, ...] = ()
    ledger_vkeys: tuple[str, ...] = ()
    keys: KeyDirectory | None = None
    # This process among the replicas: the holder name of the leases it takes.
    replica_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{random.token_hex(3)}"
    )

    @classmethod
    def open(cls, config: ControlConfig, *, migrate: bool = True) -> ControlPlane:
        if migrate:
            upgrade(config.database_url)
        timeout_ms = int(config.statement_timeout.total_seconds() * 1000)
        engine = open_engine(config.database_url, statement_timeout_ms=timeout_ms)
        keys = load_keys(config.keys_dir) if config.keys_dir is not None else None
        if keys is not None:
            key_path = keys.ledger_key
            kek, signer = keys.kek, keys.result_signer
        else:
            key_path = config.data_dir / LEDGER_KEY_FILE
            if not key_path.exists():
                create_key_file(key_path, config.ledger_origin)
            kek, signer = load_kek(config.data_dir), load_signer(config.data_dir)
        ledger = Ledger.open(config.database_url, key_path, engine=engine, migrate=False)
        return cls(
            config=config,
            engine=engine,
            kek=kek,
            signer=signer,
            ledger=ledger,
            nonces=NonceIssuer(kek.key),
            committer=GroupCommitter(engine, ledger),
            result_signers=keys.result_signers if keys else (signer,),
            ledger_vkeys=tuple(keys.ledger_verifiers()) if keys else (ledger.verifier.vkey(),),
            keys=keys,
            emulated_roots=(
                EmulatedRootDirectory(config.emulated_roots_dir)
                if config.emulated_roots_dir is not None
                else None
            ),
        )

    def trusted_emulated_roots(self) -> tuple[TrustAnchor, ...]:
        """The emulated roots the verifier is given: none unless trust_emulated; else those
        given at start and those in the emulated-roots directory now."""
        if not self.config.trust_emulated:
            return ()
        listed = self.emulated_roots.anchors() if self.emulated_roots is not None else ()
        return self.emulated_anchors + listed

    def jwks(self) -> list[dict[str, str]]:
        """Every result-signing key's JWK, the current one first."""
        return [s.jwk for s in reversed(self.result_signers)]

    def close(self) -> None:
        self.committer.close()
        self.engine.dispose()
