"""What a deployment diagram is drawn from: a frozen snapshot of one deployment as the control
plane and its ledger record it, built by a pure function from the deployment's view (the API's
`GET /v1/deployments/{id}` document) and the canonical bytes of the ledger entries it names.

Where the view and the entries come from (the API with a tenant token, or the database) is the
caller's business: this module does no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from elsewhere.errors import InputError


@dataclass(frozen=True)
class LedgerRef:
    """One ledger entry: its index and RFC 9162 leaf hash, SHA-256(0x00 ‖ canonical bytes)."""

    index: int
    leaf_hash: str  # hex
    kind: str


@dataclass(frozen=True)
class Attestation:
    """One verdict on one host's evidence, and the secret releases it allowed."""

    host: str
    placement: str
    verdict: str  # "affirming", "contraindicated", ...
    reasons: tuple[str, ...]
    tee: str  # "sev-snp", "tdx", "nil", "" when unknown
    vendor: str
    generation: str
    tcb_status: str
    emulated: bool
    decision: LedgerRef | None
    releases: tuple[LedgerRef, ...]
    keep_key_digest: str  # from the releases; "" when nothing was released

    @property
    def accepted(self) -> bool:
        return self.verdict == "affirming"

    @property
    def unprotected(self) -> bool:
        """Emulated evidence or the nil host: no hardware protects anything here."""
        return self.emulated or self.tee in ("nil", "")


@dataclass(frozen=True)
class Keep:
    placement: str
    replica: int
    host: str
    state: str
    key_digest: str
    returned: bool  # a result came back to the control plane
    sealed: bool  # ... sealed to the tenant's key


@dataclass(frozen=True)
class DeploymentSnapshot:
    id: str
    tenant: str
    workload: str
    state: str
    secrets: tuple[str, ...]
    attestations: tuple[Attestation, ...]
    keeps: tuple[Keep, ...]

    def allowed_by(self, keep: Keep) -> Attestation | None:
        """The accepted attestation whose releases went to this keep's key, if any."""
        return next(
            (
                a
                for a in self.attestations
                if a.accepted and keep.key_digest and a.keep_key_digest == keep.key_digest
            ),
            None,
        )

    def host_names(self) -> tuple[str, ...]:
        seen = dict.fromkeys([a.host for a in self.attestations] + [k.host for k in self.keeps])
        return tuple(seen)


def leaf_hash(entry: bytes) -> str:
    return hashlib.sha256(b"\x00" + entry).hexdigest()


def wanted_indexes(view: Mapping[str, Any]) -> list[int]:
    """The ledger indexes a snapshot of `view` reads: each decision, and for accepted ones the
    entries after it that may be its secret releases (written in the same transaction)."""
    secrets = len(view.get("spec", {}).get("secrets") or [])
    out: list[int] = []
    for d in view.get("decisions") or []:
        index = d.get("ledger_index")
        if isinstance(index, int) and index >= 0:
            out.append(index)
            if d.get("verdict") == "affirming":
                out.extend(range(index + 1, index + 1 + secrets))
    return sorted(set(out))


def _entry(entries: Mapping[int, bytes], index: int) -> tuple[LedgerRef, dict[str, Any]] | None:
    data = entries.get(index)
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        raise InputError("ledger entry", f"#{index}", "not JSON") from None
    if not isinstance(value, dict):
        raise InputError("ledger entry", f"#{index}", "not a JSON object")
    return LedgerRef(index, leaf_hash(data), str(value.get("kind", ""))), value


def _attestation(d: Mapping[str, Any], entries: Mapping[int, bytes], n: int) -> Attestation:
    claims = d.get("claims") or {}
    index = d.get("ledger_index")
    found = _entry(entries, index) if isinstance(index, int) else None
    releases: list[LedgerRef] = []
    keep_key = ""
    if found is not None and d.get("verdict") == "affirming":
        evidence = found[1].get("evidence_digest")
        for following in range(found[0].index + 1, found[0].index + 1 + n):
            release = _entry(entries, following)
            if release is None or release[0].kind != "secret.release":
                break
            if release[1].get("evidence_digest") != evidence:
                break
            releases.append(release[0])
            keep_key = str(release[1].get("keep_key_digest", ""))
    return Attestation(
        host=str(d.get("host") or "?"),
        placement=str(d.get("placement") or ""),
        verdict=str(d.get("verdict") or ""),
        reasons=tuple(str(r) for r in d.get("reasons") or ()),
        tee=str(claims.get("tee") or ""),
        vendor=str(claims.get("vendor") or ""),
        generation=str(claims.get("generation") or ""),
        tcb_status=str(claims.get("tcb_status") or ""),
        emulated=bool(claims.get("emulated")),
        decision=found[0] if found else None,
        releases=tuple(releases),
        keep_key_digest=keep_key,
    )


def snapshot_from_view(
    view: Mapping[str, Any], tenant: str, entries: Mapping[int, bytes]
) -> DeploymentSnapshot:
    """The snapshot of a deployment `view`, with `entries` (index → canonical entry bytes) for
    the indexes `wanted_indexes(view)` names; a missing entry is drawn as unlinked."""
    secrets = tuple(str(s) for s in view.get("spec", {}).get("secrets") or ())
    attestations = tuple(
        _attestation(d, entries, len(secrets))
        for d in view.get("decisions") or ()
        if d.get("kind", "attest") == "attest"
    )
    keeps = tuple(
        Keep(
            placement=str(p.get("id")),
            replica=int(p.get("replica") or 0),
            host=str(p.get("host") or ""),
            state=str(p.get("state") or ""),
            key_digest=str(p.get("keep_key_digest") or ""),
            returned=p.get("result") is not None,
            sealed=bool((p.get("result") or {}).get("sealed")),
        )
        for p in view.get("placements") or ()
        if p.get("host") and p.get("keep_key_digest")
    )
    return DeploymentSnapshot(
        id=str(view.get("id")),
        tenant=tenant,
        workload=str(view.get("workload") or ""),
        state=str(view.get("state") or ""),
        secrets=secrets,
        attestations=attestations,
        keeps=keeps,
    )
