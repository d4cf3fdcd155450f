"""The roster: who the parties and custodians of one commons are, and their public keys.

Each custodian is configured with the roster by the party that runs it (out of band), never
by the operator: an operator that could change the roster could add a party of its own.

    {"commons": "...", "approvals_needed": m, "shares_needed": k,
     "parties":    [{"name", "sign_key": b64 Ed25519, "seal_key": b64 HPKE}],
     "custodians": [{"name", "url", "seal_key": b64 HPKE, "log_key": vkey, "witness_key": vkey}],
     "veto_quorum": q (optional; default n - k)}

`veto_quorum` is how many peer custodians must answer a custodian's veto query before it
releases (docs/commons.md, "Vetoes reach every custodian"): more answers make a veto held by
fewer custodians visible; fewer let releases go on with more custodians down. The default,
n - k, is the most that still lets a run go on with one custodian down (#18): a veto held by
k custodians (its recipient and k - 1 it forwarded to) is then seen by every release, and one
held by any custodian that answers is seen too, since every peer is asked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from elsewhere.commons.canon import b64, canonical_bytes, check_name, field, unb64
from elsewhere.crypto.hpke import DEFAULT_SUITE, PrivateKey, PublicKey
from elsewhere.errors import InputError
from elsewhere.ledger.note import COSIGNATURE_V1, Verifier

CONTROL_PLANE = "control-plane"  # the name of the control plane's log among the custodians'


@dataclass(frozen=True)
class Party:
    name: str
    sign_key: bytes  # raw Ed25519 public key (32 bytes)
    seal_key: bytes  # tagged HPKE public key: results are sealed to it

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.sign_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sign_key": b64(self.sign_key), "seal_key": b64(self.seal_key)}


@dataclass(frozen=True)
class Custodian:
    name: str
    url: str
    seal_key: bytes  # shares are wrapped to it
    log_key: str  # note verifier of its decision log
    witness_key: str  # cosignature/v1 verifier: it cosigns the other custodians' logs

    @property
    def log_verifier(self) -> Verifier:
        return Verifier.parse(self.log_key)

    @property
    def witness_verifier(self) -> Verifier:
        return Verifier.parse(self.witness_key)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "seal_key": b64(self.seal_key),
            "log_key": self.log_key,
            "witness_key": self.witness_key,
        }


@dataclass(frozen=True)
class Roster:
    commons: str
    approvals_needed: int
    shares_needed: int
    parties: tuple[Party, ...]
    custodians: tuple[Custodian, ...]
    # The control plane's ledger key, when its registry is used: the custodians witness it.
    control_plane_log_key: str | None = None
    # Peers a custodian must hear from (signed answers) before releasing; None: n - k.
    veto_quorum: int | None = None

    @property
    def peers_to_hear(self) -> int:
        if self.veto_quorum is not None:
            return self.veto_quorum
        return len(self.custodians) - self.shares_needed

    def log_verifier(self, name: str) -> Verifier | None:
        """The note key of the log named `name`: a custodian's, or CONTROL_PLANE's."""
        if name == CONTROL_PLANE:
            return (
                Verifier.parse(self.control_plane_log_key) if self.control_plane_log_key else None
            )
        custodian = self.custodian(name)
        return None if custodian is None else custodian.log_verifier

    def party(self, name: str) -> Party | None:
        return next((p for p in self.parties if p.name == name), None)

    def custodian(self, name: str) -> Custodian | None:
        return next((c for c in self.custodians if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return (
            {
                "commons": self.commons,
                "approvals_needed": self.approvals_needed,
                "shares_needed": self.shares_needed,
                "parties": [p.to_json() for p in self.parties],
                "custodians": [c.to_json() for c in self.custodians],
            }
            | (
                {"control_plane_log_key": self.control_plane_log_key}
                if self.control_plane_log_key
                else {}
            )
            | ({"veto_quorum": self.veto_quorum} if self.veto_quorum is not None else {})
        )

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(canonical_bytes(self.to_json())).hexdigest()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Roster:
        what = "commons roster"
        parties = tuple(_party(p) for p in field(doc, what, "parties", list))
        custodians = tuple(_custodian(c) for c in field(doc, what, "custodians", list))
        roster = cls(
            commons=check_name("commons name", field(doc, what, "commons", str)),
            approvals_needed=field(doc, what, "approvals_needed", int),
            shares_needed=field(doc, what, "shares_needed", int),
            parties=parties,
            custodians=custodians,
            control_plane_log_key=doc.get("control_plane_log_key"),
            veto_quorum=doc.get("veto_quorum"),
        )
        if roster.control_plane_log_key is not None:
            if not isinstance(roster.control_plane_log_key, str):
                raise InputError(what, "control_plane_log_key", "must be a note verifier key")
            Verifier.parse(roster.control_plane_log_key)
        for label, names in (
            ("parties", [p.name for p in parties]),
            ("custodians", [c.name for c in custodians] + [CONTROL_PLANE]),
        ):
            if len(set(names)) != len(names):
                raise InputError(what, label, "a name appears twice")
        if not 1 <= roster.approvals_needed <= len(parties):
            raise InputError(what, "approvals_needed", f"must be 1..{len(parties)}")
        # k = 1 would let one custodian (with the operator) read every dataset.
        if not 2 <= roster.shares_needed <= len(custodians):
            raise InputError(what, "shares_needed", f"must be 2..{len(custodians)}")
        quorum = roster.veto_quorum
        whole = isinstance(quorum, int) and not isinstance(quorum, bool)
        if quorum is not None and not (whole and 0 <= quorum < len(custodians)):
            raise InputError(what, "veto_quorum", f"must be 0..{len(custodians) - 1} peers")
        return roster


def _party(doc: Any) -> Party:
    what = "roster party"
    party = Party(
        name=check_name("party name", field(doc, what, "name", str)),
        sign_key=unb64(what, "sign_key", field(doc, what, "sign_key", str)),
        seal_key=unb64(what, "seal_key", field(doc, what, "seal_key", str)),
    )
    if len(party.sign_key) != 32:
        raise InputError(what, f"{party.name}.sign_key", "must be a 32-byte Ed25519 key")
    PublicKey.parse(party.seal_key)
    return party


def _custodian(doc: Any) -> Custodian:
    what = "roster custodian"
    custodian = Custodian(
        name=check_name("custodian name", field(doc, what, "name", str)),
        url=field(doc, what, "url", str),
        seal_key=unb64(what, "seal_key", field(doc, what, "seal_key", str)),
        log_key=field(doc, what, "log_key", str),
        witness_key=field(doc, what, "witness_key", str),
    )
    PublicKey.parse(custodian.seal_key)
    custodian.log_verifier  # noqa: B018 - parse now: one clear line for a bad key
    if custodian.witness_verifier.key_type != COSIGNATURE_V1:
        raise InputError(what, f"{custodian.name}.witness_key", "must be a cosignature/v1 key")
    return custodian


@dataclass(frozen=True)
class PartyKeys:
    """A party's private keys: Ed25519 to sign approvals and vetoes, HPKE to open results.
    Secret material: kept in the party's own file, never sent anywhere."""

    name: str
    sign_seed: bytes
    seal_secret: bytes

    @classmethod
    def generate(cls, name: str) -> PartyKeys:
        seal = PrivateKey.generate()
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(check_name("party name", name), seed, seal.secret_bytes())

    @property
    def signer(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.sign_seed)

    @property
    def seal(self) -> PrivateKey:
        return PrivateKey(DEFAULT_SUITE, self.seal_secret)

    @property
    def public(self) -> Party:
        public = self.signer.public_key().public_bytes_raw()
        return Party(self.name, public, self.seal.public_bytes())

    def sign(self, message: bytes) -> bytes:
        return self.signer.sign(message)

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "sign_seed": b64(self.sign_seed),
            "seal_secret": b64(self.seal_secret),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PartyKeys:
        what = "party key file"
        keys = cls(
            name=check_name("party name", field(doc, what, "name", str)),
            sign_seed=unb64(what, "sign_seed", field(doc, what, "sign_seed", str)),
            seal_secret=unb64(what, "seal_secret", field(doc, what, "seal_secret", str)),
        )
        if len(keys.sign_seed) != 32 or len(keys.seal_secret) != 32:
            raise InputError(what, keys.name, "keys must be 32 bytes each")
        return keys
