"""What the ledger records: one typed, frozen record per kind of trust decision.

Every entry is a JSON object with `schema` ("elsewhere.ledger/1"), `kind` and `at` (UTC,
RFC 3339), then the kind's fields. Digests are "sha256:<64 hex>" of the exact bytes the
decision was made on (evidence, claims JSON, policy file, keep key), so an outside party
who holds those bytes can match them to the entry. The version tag sits inside the leaf,
so a later schema can never be confused with this one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from elsewhere.errors import InputError
from elsewhere.timeutil import iso, parse_time

SCHEMA = "elsewhere.ledger/1"
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


def digest(data: bytes) -> str:
    """The ledger's digest notation for a byte string."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _check_digest(value: str | None, name: str) -> None:
    if value is not None and not _DIGEST.match(value):
        raise InputError("ledger entry", name, "must be sha256:<64 lowercase hex>")


def _check_number(value: float, name: str, low: float | None = None) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError("ledger entry", name, "must be a finite number")
    if low is not None and value < low:
        raise InputError("ledger entry", name, f"must be at least {low}")


_digest_names: dict[type, tuple[str, ...]] = {}


def _digest_fields(kind: type) -> tuple[str, ...]:
    """An entry class's digest fields (looked up once per class: entries are made per release)."""
    names = _digest_names.get(kind)
    if names is None:
        fields = dataclasses.fields(kind)
        names = _digest_names[kind] = tuple(f.name for f in fields if f.name.endswith("digest"))
    return names


@dataclass(frozen=True, kw_only=True)
class _Entry:
    kind: ClassVar[str]
    at: dt.datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise InputError("ledger entry", "at", "needs a time zone (use UTC)")
        for name in _digest_fields(type(self)):
            _check_digest(getattr(self, name), name)

    def to_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"schema": SCHEMA, "kind": self.kind}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                value = iso(value)
            elif isinstance(value, tuple):
                value = [v.to_json() if isinstance(v, Candidate) else v for v in value]
            entry[item.name] = value
        return entry


@dataclass(frozen=True, kw_only=True)
class AttestationDecision(_Entry):
    """A verdict on one piece of evidence under one policy version."""

    kind: ClassVar[str] = "attestation.decision"
    evidence_digest: str
    claims_digest: str
    policy_version: int
    policy_digest: str
    verdict: Literal["accepted", "refused"]
    reasons: tuple[str, ...] = ()
    host: str | None = None
    tenant: str | None = None
    tee: str | None = None
    emulated: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.verdict not in ("accepted", "refused"):
            raise InputError("ledger entry", "verdict", "must be 'accepted' or 'refused'")
        if self.verdict == "refused" and not self.reasons:
            raise InputError("ledger entry", "reasons", "a refusal must say why")


@dataclass(frozen=True, kw_only=True)
class SecretRelease(_Entry):
    """A secret wrapped to a keep key that was bound into verified evidence."""

    kind: ClassVar[str] = "secret.release"
    secret_id: str
    keep_key_digest: str
    evidence_digest: str
    policy_digest: str
    tenant: str | None = None
    workload_digest: str | None = None


@dataclass(frozen=True, kw_only=True)
class PolicyVersion(_Entry):
    """A tenant's trust policy as it took effect."""

    kind: ClassVar[str] = "policy.version"
    tenant: str
    version: int
    policy_digest: str
    previous_digest: str | None = None


@dataclass(frozen=True, kw_only=True)
class AdvisoryImport(_Entry):
    """A batch of security advisories taken into account from then on."""

    kind: ClassVar[str] = "advisory.import"
    source: str
    feed_digest: str
    advisory_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Eviction(_Entry):
    """Work moved off a host, or a host drained, and why."""

    kind: ClassVar[str] = "host.eviction"
    host: str
    action: Literal["evict", "drain"]
    reason: str
    workloads: tuple[str, ...] = ()
    advisory_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.action not in ("evict", "drain"):
            raise InputError("ledger entry", "action", "must be 'evict' or 'drain'")


@dataclass(frozen=True, kw_only=True)
class HostWarning(_Entry):
    """A keep left running on a host its policy now refuses (the re-check's "keep" action)."""

    kind: ClassVar[str] = "host.warning"
    host: str
    action: Literal["keep"] = "keep"
    reason: str
    workloads: tuple[str, ...] = ()
    advisory_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.action != "keep":
            raise InputError("ledger entry", "action", "must be 'keep'")


@dataclass(frozen=True, kw_only=True)
class TenantWithdrawal(_Entry):
    """A tenant took back what it had granted: a deployment stopped (its keeps withdrawn), a
    secret deleted (never released again), a workload deleted (never sent to a host again)."""

    kind: ClassVar[str] = "tenant.withdrawal"
    ACTIONS: ClassVar[tuple[str, ...]] = ("stop_deployment", "delete_secret", "delete_workload")
    tenant: str
    action: Literal["stop_deployment", "delete_secret", "delete_workload"]
    subject: str  # the deployment id, secret id or workload digest
    workloads: tuple[str, ...] = ()  # deployment ids it concerns
    placements: tuple[str, ...] = ()  # the keeps withdrawn

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.action not in self.ACTIONS:
            raise InputError("ledger entry", "action", f"must be one of {', '.join(self.ACTIONS)}")


@dataclass(frozen=True)
class Candidate:
    host: str
    likelihood: float
    impact: float
    risk: float

    def __post_init__(self) -> None:
        for name in ("likelihood", "impact", "risk"):
            _check_number(getattr(self, name), name, 0)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class Placement(_Entry):
    """Where a workload was placed, with the risk figures that chose it."""

    kind: ClassVar[str] = "placement"
    workload: str
    chosen: str
    candidates: tuple[Candidate, ...] = field(default=())
    policy_digest: str | None = None
    tenant: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.candidates and self.chosen not in {c.host for c in self.candidates}:
            raise InputError("ledger entry", "chosen", "must be one of the candidates")


KINDS: dict[str, type[_Entry]] = {
    cls.kind: cls
    for cls in (
        AttestationDecision,
        SecretRelease,
        PolicyVersion,
        AdvisoryImport,
        Eviction,
        HostWarning,
        Placement,
        TenantWithdrawal,
    )
}

LedgerEntry = _Entry


def from_entry(entry: Mapping[str, Any]) -> _Entry:
    """Read a stored entry back into its typed record (refusing unknown shapes)."""
    if entry.get("schema") != SCHEMA:
        raise InputError("ledger entry", "schema", f"expected {SCHEMA!r}")
    cls = KINDS.get(str(entry.get("kind")))
    if cls is None:
        raise InputError("ledger entry", "kind", f"unknown kind {entry.get('kind')!r}")
    names = {item.name for item in dataclasses.fields(cls)}
    extra = set(entry) - names - {"schema", "kind"}
    if extra:
        raise InputError("ledger entry", ", ".join(sorted(extra)), f"not a field of {cls.kind}")
    values: dict[str, Any] = {}
    try:
        for name, value in entry.items():
            if name in ("schema", "kind"):
                continue
            if name == "at":
                value = parse_time(str(value), where="at")
            elif name == "candidates":
                value = tuple(Candidate(**c) for c in value)
            elif isinstance(value, list):
                value = tuple(value)
            values[name] = value
        return cls(**values)
    except TypeError as error:
        raise InputError("ledger entry", cls.kind, str(error)) from None
