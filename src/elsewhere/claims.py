"""One normalised, immutable shape for verified evidence from every TEE.

SEV-SNP, TDX and SGX verifiers each turn evidence into a `VerificationResult`: the claims the
evidence makes plus every check that failed. Policy, the key broker, the ledger and placement
read only this shape, never vendor structures. `to_json` is the stable, documented format
(docs/claims.md); a change to it needs a new `CLAIMS_SCHEMA` number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from elsewhere.errors import InputError
from elsewhere.i18n import N_
from elsewhere.timeutil import iso

CLAIMS_SCHEMA = "elsewhere.claims/1"

EMULATED_WARNING = N_("emulated — no hardware protection")
NIL_WARNING = N_("nil host — no evidence, no hardware protection")
UNVERIFIED_WARNING = N_("none — evidence did not verify, no hardware protection established")


class Vendor(StrEnum):
    AMD = "AMD"
    INTEL = "Intel"
    NONE = "none"


class Tee(StrEnum):
    SEV_SNP = "sev-snp"
    TDX = "tdx"
    SGX = "sgx"
    NIL = "nil"


# -- platform vocabulary: what claims may say, shared by the verifiers and by policy ----------

# Intel's tcbStatus strings (Intel QVL / PCS), the TDX relaunch statuses included. Defined
# here once; the DCAP verifier and the policy language both read this tuple.
INTEL_TCB_STATUSES: tuple[str, ...] = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
    "Revoked",
)
# What a policy accepts when it names no Intel TCB status: only a current platform.
INTEL_DEFAULT_ACCEPTED_STATUSES: tuple[str, ...] = ("UpToDate",)
# The statuses a TCB Info / QE Identity level may carry: the relaunch ones are verdicts only.
INTEL_LEVEL_STATUSES = frozenset(INTEL_TCB_STATUSES) - {
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
}

# Intel platform family from the FMSPC. Bytes 1-2 of every FMSPC seen so far carry the CPUID
# family-6 model signature (extended model nibble, then model): 50806F → 0x8F. Intel does not
# document this layout, so unknown values give None rather than a guess.
INTEL_FAMILY_BY_FMSPC_MODEL: Mapping[str, str] = MappingProxyType(
    {
        "606a": "Ice Lake-SP",
        "606c": "Ice Lake-D",
        "806f": "Sapphire Rapids",
        "c06f": "Emerald Rapids",
        "a06d": "Granite Rapids",
        "a06f": "Sierra Forest",
        "a067": "Rocket Lake",
        "906e": "Coffee Lake",
        "906a": "Alder Lake",
    }
)


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Failure:
    """A check that did not pass: which check, the value found, the value expected."""

    check: str
    found: str
    expected: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "found": self.found, "expected": self.expected}

    def __str__(self) -> str:
        return f"{self.check}: found {self.found}, expected {self.expected}"


@dataclass(frozen=True)
class Claims:
    """What verified evidence says about a platform and the workload it launched.

    Mappings are read-only views; hex strings are lower case without a prefix.
    - `generation`: AMD product (Milan / Genoa / Turin) or Intel platform family; None if unknown.
    - `tcb`: every TCB component by name (SNP: bootloader, tee, snp, microcode, fmc;
      Intel: sgx_comp_00..15, pcesvn, tdx_comp_00..15, ...), in the order the evidence gives.
    - `tcb_status`: Intel's TCB status (UpToDate, OutOfDate, ...); None for AMD.
    - `measurements`: name → hex (measurement; mrtd, rtmr0-3, mrseam, ...; mrenclave, mrsigner).
    - `flags`: policy / platform / attribute flags by name (smt, migrate_ma, sept_ve_disable, ...).
    - `identity`: other identity values (isvprodid, isvsvn, guest_svn, vmpl, ...).
    """

    vendor: Vendor
    tee: Tee
    generation: str | None
    report_version: int
    signer: str
    debug: bool
    smt: bool | None
    report_data: str
    measurements: Mapping[str, str] = field(default_factory=dict)
    tcb: Mapping[str, int] = field(default_factory=dict)
    tcb_status: str | None = None
    advisory_ids: tuple[str, ...] = ()
    flags: Mapping[str, bool] = field(default_factory=dict)
    identity: Mapping[str, int | str] = field(default_factory=dict)
    host_data: str | None = None
    chip_id: str | None = None
    fmspc: str | None = None
    emulated: bool = False

    def __post_init__(self) -> None:
        for name in ("measurements", "tcb", "flags", "identity"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "advisory_ids", tuple(self.advisory_ids))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Claims:
        """Inverse of `to_json` (claims stored at admission, or carried to a keep)."""
        try:
            return cls(
                vendor=Vendor(doc["vendor"]),
                tee=Tee(doc["tee"]),
                generation=doc.get("generation"),
                report_version=int(doc.get("report_version", 0)),
                signer=str(doc.get("signer", "")),
                debug=bool(doc.get("debug", False)),
                smt=doc.get("smt"),
                report_data=str(doc.get("report_data", "")),
                measurements=dict(doc.get("measurements") or {}),
                tcb={str(k): int(v) for k, v in (doc.get("tcb") or {}).items()},
                tcb_status=doc.get("tcb_status"),
                advisory_ids=tuple(str(a) for a in doc.get("advisory_ids") or ()),
                flags=dict(doc.get("flags") or {}),
                identity=dict(doc.get("identity") or {}),
                host_data=doc.get("host_data"),
                chip_id=doc.get("chip_id"),
                fmspc=doc.get("fmspc"),
                emulated=bool(doc.get("emulated", False)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InputError("claims JSON", _json_where(error), "not a claims document") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor.value,
            "tee": self.tee.value,
            "generation": self.generation,
            "report_version": self.report_version,
            "signer": self.signer,
            "emulated": self.emulated,
            "debug": self.debug,
            "smt": self.smt,
            "tcb": dict(self.tcb),
            "tcb_status": self.tcb_status,
            "advisory_ids": list(self.advisory_ids),
            "measurements": dict(self.measurements),
            "flags": dict(self.flags),
            "identity": dict(self.identity),
            "host_data": self.host_data,
            "report_data": self.report_data,
            "chip_id": self.chip_id,
            "fmspc": self.fmspc,
        }


# Identity values that name one guest (one keep), not its platform: SEV-SNP's report ids.
PER_GUEST_IDENTITY = frozenset({"report_id", "report_id_ma"})


def platform_document(claims_json: Mapping[str, Any]) -> dict[str, Any]:
    """A claims document (`Claims.to_json`) without what belongs to one guest: its
    report_data binding and its per-guest identity values. The same for every guest of an
    unchanged platform."""
    platform = {k: v for k, v in claims_json.items() if k != "report_data"}
    identity = claims_json.get("identity") or {}
    platform["identity"] = {k: v for k, v in identity.items() if k not in PER_GUEST_IDENTITY}
    return platform


@dataclass(frozen=True)
class VerificationResult:
    """Claims plus the verdict: verified only when no check failed.

    `notices` are facts worth showing that do not fail verification (an unknown reserved bit,
    an emulated root). `verified_at` is the time certificates and collateral were checked at.
    """

    claims: Claims
    failures: tuple[Failure, ...]
    verified_at: dt.datetime
    evidence_kind: str
    notices: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        return not self.failures

    @property
    def protection(self) -> str:
        if self.claims.tee is Tee.NIL:
            return NIL_WARNING
        if self.claims.emulated:
            return EMULATED_WARNING
        if self.failures:
            # Claims from evidence that failed verification establish nothing about the host.
            return UNVERIFIED_WARNING
        return f"hardware-attested ({self.claims.vendor.value} {self.claims.tee.value})"

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> VerificationResult:
        """Inverse of `to_json`."""
        try:
            if doc.get("schema", CLAIMS_SCHEMA) != CLAIMS_SCHEMA:
                raise ValueError(f"schema {doc.get('schema')!r}")
            verified_at = dt.datetime.fromisoformat(str(doc["verified_at"]).replace("Z", "+00:00"))
            return cls(
                claims=Claims.from_json(doc["claims"]),
                failures=tuple(
                    Failure(str(f["check"]), str(f["found"]), str(f["expected"]))
                    for f in doc.get("failures", [])
                ),
                verified_at=verified_at,
                evidence_kind=str(doc.get("evidence_kind", "")),
                notices=tuple(str(n) for n in doc.get("notices", [])),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InputError(
                "verification result JSON", _json_where(error), "not a verification result"
            ) from None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": CLAIMS_SCHEMA,
            "evidence_kind": self.evidence_kind,
            "verified": self.verified,
            "verified_at": iso(self.verified_at),
            "protection": self.protection,
            "failures": [f.to_json() for f in self.failures],
            "notices": list(self.notices),
            "claims": self.claims.to_json(),
        }


def _json_where(error: Exception) -> str:
    return f"key {error.args[0]!r}" if isinstance(error, KeyError) else str(error)
