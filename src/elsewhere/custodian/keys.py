"""A custodian's directory: its keys (owner-only files), roster, policy and trusted roots.

seal.key     HPKE (ML-KEM-768 + X25519) secret: shares are wrapped to it
log.key      Ed25519 note key of its decision log (name <custodian>.log)
witness.key  cosignature/v1 key it cosigns other custodians' checkpoints with
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elsewhere.commons.canon import b64, check_name
from elsewhere.commons.roster import Roster
from elsewhere.crypto.hpke import DEFAULT_SUITE, PrivateKey
from elsewhere.errors import ConfigError, InputError
from elsewhere.evidence.anchors import TrustAnchor
from elsewhere.ledger.keyfile import create_key_file, load_key_file
from elsewhere.ledger.note import COSIGNATURE_V1, Signer
from elsewhere.policy.load import load_policy
from elsewhere.policy.model import Policy
from elsewhere.privatefile import read_private, write_private


@dataclass(frozen=True)
class CustodianConfig:
    name: str
    seal: PrivateKey
    log_signer: Signer
    witness: Signer
    roster: Roster
    policy: Policy
    anchors: tuple[TrustAnchor, ...]
    database_url: str
    peer_ca: Path | None = None  # CA file the peers' TLS certificates chain to (None: system)


def init_dir(directory: Path, name: str) -> dict[str, Any]:
    """Create a custodian's keys in `directory`; returns its public part for the roster."""
    check_name("custodian name", name)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "seal.key").exists():
        raise InputError("custodian init", str(directory), "already holds a custodian's keys")
    seal = PrivateKey.generate()
    write_private(directory / "seal.key", seal.secret_bytes(), what="custodian seal key")
    log_signer = create_key_file(directory / "log.key", f"{name}.log")
    witness = create_key_file(directory / "witness.key", f"{name}.witness", COSIGNATURE_V1)
    (directory / "name").write_text(name + "\n")
    return public_part(name, seal, log_signer, witness)


def public_part(name: str, seal: PrivateKey, log_signer: Signer, witness: Signer) -> dict[str, Any]:
    return {
        "name": name,
        "seal_key": b64(seal.public_bytes()),
        "log_key": log_signer.verifier.vkey(),
        "witness_key": witness.verifier.vkey(),
    }


def load_dir(
    directory: Path,
    roster_path: Path,
    policy_path: Path,
    anchor_paths: list[Path],
    database_url: str | None,
    peer_ca: Path | None = None,
) -> CustodianConfig:
    try:
        name = (directory / "name").read_text().strip()
    except OSError:
        raise ConfigError(
            "custodian", str(directory), "no custodian here (run custodian init)"
        ) from None
    try:
        roster = Roster.from_json(json.loads(roster_path.read_text()))
    except OSError as error:
        raise ConfigError("roster", str(roster_path), error.strerror or "unreadable") from None
    except json.JSONDecodeError as error:
        raise ConfigError("roster", str(roster_path), f"not JSON: {error.msg}") from None
    if roster.custodian(name) is None:
        raise ConfigError("roster", str(roster_path), f"does not name this custodian {name!r}")
    seal = PrivateKey(DEFAULT_SUITE, read_private(directory / "seal.key", what="seal key"))
    if roster.custodian(name).seal_key != seal.public_bytes():  # type: ignore[union-attr]
        raise ConfigError("roster", name, "its seal_key is not this custodian's key")
    return CustodianConfig(
        name=name,
        seal=seal,
        log_signer=load_key_file(directory / "log.key"),
        witness=load_key_file(directory / "witness.key"),
        roster=roster,
        policy=load_policy(policy_path),
        anchors=tuple(TrustAnchor.emulated_root_file(p) for p in anchor_paths),
        database_url=database_url or f"sqlite:///{directory / 'custodian.db'}",
        peer_ca=peer_ca,
    )
