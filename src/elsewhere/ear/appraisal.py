"""What one attest decision establishes, as an AR4SI trustworthiness vector and an EAR status.

The input is the verified claims and the tenant policy's verdict (the rule keys that failed);
nothing here reads a database or the control plane. docs/claims.md has the mapping as a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from elsewhere.claims import Tee, VerificationResult
from elsewhere.ear.ar4si import Tier, Value, tier


@dataclass(frozen=True)
class LedgerRef:
    """Where the decision is logged: the log's origin (its checkpoint origin line) and, once
    the commit that wrote it has assigned them, the decision entry's index and leaf hash (RFC
    9162 §2.1.1: SHA-256 of 0x00 and the entry's canonical bytes, hex). No checkpoint is
    named: none covers the entry when the token is signed; the verifier fetches one later."""

    origin: str
    index: int | None = None
    leaf_hash: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"origin": self.origin}
        if self.index is not None:
            out["index"] = self.index
        if self.leaf_hash is not None:
            out["leaf_hash"] = self.leaf_hash
        return out


@dataclass(frozen=True)
class Appraisal:
    """One attest decision: the verified evidence, the policy's verdict and what the keep is
    bound to (report_data covers nonce, keep key, workload and policy digest)."""

    result: VerificationResult
    accepted: bool
    failed_rules: tuple[str, ...]  # policy rule keys, e.g. "tcb.sev-snp.snp", "binding"
    measurements_pinned: bool  # the policy allow-lists a launch measurement for this TEE
    advisories: tuple[str, ...]  # advisories that apply to the platform (admitted or not)
    policy_digest: str
    workload_digest: str
    keep_key_digest: str
    keep_key_suite: str
    nonce: bytes
    reasons: tuple[str, ...] = ()
    placement: str | None = None
    deployment: str | None = None
    host: str | None = None
    ledger: LedgerRef | None = None


def _failed(rules: tuple[str, ...], *families: str) -> bool:
    return any(r == f or r.startswith(f + ".") for r in rules for f in families)


def trustworthiness_vector(appraisal: Appraisal) -> dict[str, int]:
    """The AR4SI claims this verifier can speak to; file-system, storage-opaque and
    sourced-data are left out (no claim): nothing in TEE evidence covers them."""
    claims, rules = appraisal.result.claims, appraisal.failed_rules
    if claims.tee is Tee.NIL:  # no evidence: only that memory is visible to the host is known
        return {"runtime-opaque": Value.VISIBLE_MEMORY_RUNTIME}
    if not appraisal.result.verified:  # signature, chain or collateral did not verify
        failed = int(Value.CRYPTO_VALIDATION_FAILED)
        return dict.fromkeys(("instance-identity", "hardware"), failed)
    # report_data not bound to this nonce / keep key / workload / policy, or stale evidence:
    # not this instance now. (binding.keep_key_suites is configuration, below.)
    unbound = _failed(rules, "freshness") or any(
        r in ("binding", "binding.require_report_data") for r in rules
    )
    if claims.emulated:
        hardware = Value.UNRECOGNIZED_HARDWARE  # an emulated root: no genuine hardware
    elif _failed(rules, "tee.accept", "platforms", "tcb", "intel", "advisories"):
        hardware = Value.CONTRAINDICATED_HARDWARE
    elif claims.tcb_status not in (None, "UpToDate") or appraisal.advisories:
        hardware = Value.UNSAFE_HARDWARE  # admitted by the policy, with known issues
    else:
        hardware = Value.GENUINE_HARDWARE
    configuration_rules = ("tee.allow_debug", "flags", "identity_min", "identity")
    if _failed(rules, *configuration_rules, "binding.keep_key_suites"):
        configuration = Value.UNSUPPORTABLE_CONFIG
    elif claims.debug:
        configuration = Value.UNSAFE_CONFIG
    else:
        configuration = Value.APPROVED_CONFIG
    vector = {
        "instance-identity": int(
            Value.UNTRUSTWORTHY_INSTANCE if unbound else Value.TRUSTWORTHY_INSTANCE
        ),
        "configuration": int(configuration),
        "hardware": int(hardware),
        "runtime-opaque": int(
            Value.VISIBLE_MEMORY_RUNTIME if claims.emulated else Value.ENCRYPTED_MEMORY_RUNTIME
        ),
    }
    if _failed(rules, "measurements"):
        vector["executables"] = int(Value.UNRECOGNIZED_RUNTIME)
    elif appraisal.measurements_pinned:
        vector["executables"] = int(Value.APPROVED_RUNTIME)
    return vector


def status(appraisal: Appraisal, vector: dict[str, int]) -> Tier:
    """Refused: contraindicated. Released: affirming only if every claim made is affirming,
    else warning (released under the tenant's policy, but not all of it is vouched for)."""
    if not appraisal.accepted:
        return Tier.CONTRAINDICATED
    if vector and all(tier(v) is Tier.AFFIRMING for v in vector.values()):
        return Tier.AFFIRMING
    return Tier.WARNING
