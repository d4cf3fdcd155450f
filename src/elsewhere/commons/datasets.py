"""Datasets encrypted on the owner's machine: AES-256-GCM under a fresh data key, the key
split k-of-n (commons.shares) and each share HPKE-sealed to one custodian.

The sealed dataset is `nonce (12) ‖ ciphertext ‖ tag`, the AAD names the dataset id and owner,
so a ciphertext moved under another id does not open."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from elsewhere.commons.canon import b64, canonical_bytes, check_name, field, unb64
from elsewhere.commons.roster import PartyKeys, Roster
from elsewhere.commons.shares import KEY_LEN, split_key
from elsewhere.commons.wire import DATASET_AAD, DEPOSIT_LABEL, SHARE_INFO, share_aad
from elsewhere.crypto.hpke import seal
from elsewhere.errors import InputError, VerificationFailed

MAX_DATASET_BYTES = 64 << 20
MAX_BUDGET = 100.0


def _aad(dataset_id: str, owner: str) -> bytes:
    return DATASET_AAD + dataset_id.encode() + b"\x00" + owner.encode()


@dataclass(frozen=True)
class Deposit:
    """What one custodian receives for one dataset: its wrapped share and the dataset's
    terms, signed by the owner (so an operator cannot change the owner or the budget)."""

    dataset_id: str
    owner: str
    custodian: str
    ciphertext_digest: str
    epsilon_budget: float
    wrapped_share: bytes
    signature: bytes = b""

    def terms(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "owner": self.owner,
            "custodian": self.custodian,
            "ciphertext_digest": self.ciphertext_digest,
            "epsilon_budget": self.epsilon_budget,
            "wrapped_share_sha256": hashlib.sha256(self.wrapped_share).hexdigest(),
        }

    def message(self) -> bytes:
        return DEPOSIT_LABEL + canonical_bytes(self.terms())

    def to_json(self) -> dict[str, Any]:
        return self.terms() | {
            "wrapped_share": b64(self.wrapped_share),
            "signature": b64(self.signature),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Deposit:
        what = "deposit"
        budget = float(field(doc, what, "epsilon_budget", float))
        if not 0 <= budget <= MAX_BUDGET:
            raise InputError(what, "epsilon_budget", f"must be in [0, {MAX_BUDGET}]")
        return cls(
            dataset_id=check_name("dataset id", field(doc, what, "dataset_id", str)),
            owner=check_name("party name", field(doc, what, "owner", str)),
            custodian=check_name("custodian name", field(doc, what, "custodian", str)),
            ciphertext_digest=field(doc, what, "ciphertext_digest", str),
            epsilon_budget=budget,
            wrapped_share=unb64(what, "wrapped_share", field(doc, what, "wrapped_share", str)),
            signature=unb64(what, "signature", field(doc, what, "signature", str)),
        )

    def check(self, roster: Roster, custodian: str) -> None:
        if self.custodian != custodian:
            raise InputError("deposit", "custodian", f"for {self.custodian}, this is {custodian}")
        owner = roster.party(self.owner)
        if owner is None:
            raise InputError("deposit", "owner", f"{self.owner} is not a party of this commons")
        if not owner.verify(self.message(), self.signature):
            raise VerificationFailed(
                f"deposit of {self.dataset_id}: owner signature does not verify"
            )


@dataclass(frozen=True)
class SealedDataset:
    dataset_id: str
    owner: str
    ciphertext: bytes
    deposits: tuple[Deposit, ...]

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.ciphertext).hexdigest()


def encrypt_dataset(
    keys: PartyKeys, roster: Roster, dataset_id: str, data: bytes, epsilon_budget: float
) -> SealedDataset:
    """Encrypt `data` under a fresh key; split the key over the roster's custodians."""
    check_name("dataset id", dataset_id)
    if len(data) > MAX_DATASET_BYTES:
        raise InputError("dataset", dataset_id, f"{len(data)} bytes, over {MAX_DATASET_BYTES}")
    key = AESGCM.generate_key(bit_length=KEY_LEN * 8)
    nonce = os.urandom(12)
    ciphertext = nonce + AESGCM(key).encrypt(nonce, data, _aad(dataset_id, keys.name))
    digest = "sha256:" + hashlib.sha256(ciphertext).hexdigest()
    shares = split_key(key, roster.shares_needed, len(roster.custodians))
    del key
    deposits = []
    for custodian, share in zip(roster.custodians, shares, strict=True):
        wrapped = seal(
            custodian.seal_key,
            share.encode(),
            info=SHARE_INFO,
            aad=share_aad(dataset_id, custodian.name),
        )
        unsigned = Deposit(dataset_id, keys.name, custodian.name, digest, epsilon_budget, wrapped)
        deposits.append(
            Deposit(**{**unsigned.__dict__, "signature": keys.sign(unsigned.message())})
        )
    return SealedDataset(dataset_id, keys.name, ciphertext, tuple(deposits))


def decrypt_dataset(key: bytes, dataset_id: str, owner: str, ciphertext: bytes) -> bytes:
    if len(ciphertext) < 12 + 16:
        raise InputError("sealed dataset", dataset_id, "truncated")
    try:
        return AESGCM(key).decrypt(ciphertext[:12], ciphertext[12:], _aad(dataset_id, owner))
    except InvalidTag:
        raise VerificationFailed(
            f"dataset {dataset_id}: does not open (wrong key shares, or changed ciphertext)"
        ) from None
