"""What a first attestation and a re-attestation share: the request as the host sends it, read
and checked (the nonce still usable here), the evidence verified, the binding computed, and the
tenant's policy applied. What each does with the appraisal — release and log, or renew /
evict — is broker/attest.py's and broker/reattest.py's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, Field

from elsewhere.claims import Claims, Tee, Vendor, VerificationResult
from elsewhere.control.broker.context import Context
from elsewhere.control.config import ControlPlane
from elsewhere.control.store.ids import from_b64
from elsewhere.control.trust.policies import evaluator
from elsewhere.crypto.binding import report_data
from elsewhere.crypto.hpke import PublicKey
from elsewhere.errors import Conflict, InputError
from elsewhere.evidence.api import EvidenceOptions, verify_evidence
from elsewhere.policy.advisories import AdvisorySet
from elsewhere.policy.evaluate import Decision, Evaluator
from elsewhere.timeutil import utcnow
from elsewhere.wire import digest_bytes


class AttestRequest(BaseModel):
    nonce: str = Field(description="hex, as issued by POST /v1/placements/{id}/nonce")
    keep_public_key: str = Field(description="base64 tagged HPKE public key of the keep")
    evidence: str = Field(description="base64 evidence (SNP report, TDX quote, nil/emulated)")
    certificates: str | None = Field(
        None, description="base64 certificate table / auxblob (SNP VCEK chain), if separate"
    )
    format: str | None = Field(
        None, description='"none" for the nil host (no evidence); else detected from the bytes'
    )
    report_data: str | None = Field(
        None, description="hex; only the nil host sends it (nothing vouches for it)"
    )


def nil_result(report_data_hex: str, at: dt.datetime) -> VerificationResult:
    """What a nil host presents: no evidence, so no claim but the TEE kind is vouched for."""
    claims = Claims(
        vendor=Vendor.NONE,
        tee=Tee.NIL,
        generation=None,
        report_version=0,
        signer="none",
        debug=False,
        smt=None,
        report_data=report_data_hex.lower()[:128],
    )
    return VerificationResult(claims=claims, failures=(), verified_at=at, evidence_kind="none")


def evidence_options(cp: ControlPlane, certificates: bytes | None) -> EvidenceOptions:
    return EvidenceOptions(
        cert_table=certificates, trusted_emulated_roots=cp.trusted_emulated_roots()
    )


@dataclass(frozen=True)
class Appraised:
    """One attest request, appraised: its parts, the verification result and the decision."""

    nonce: bytes
    keep_key: PublicKey
    evidence: bytes
    result: VerificationResult
    policy: Evaluator
    decision: Decision
    at: dt.datetime

    @property
    def keep_key_digest(self) -> str:
        return "sha256:" + self.keep_key.fingerprint()


def appraise(
    cp: ControlPlane,
    context: Context,
    advisories: AdvisorySet,
    request: AttestRequest,
) -> Appraised:
    """Read the request (400 on what does not parse), check its nonce (409 when spent or
    expired: the transaction spends it), verify the evidence, and apply the policy with the
    binding the keep must have made (nonce, keep key, workload digest, policy digest)."""
    try:
        nonce = bytes.fromhex(request.nonce)
    except ValueError:
        raise InputError("nonce", "value", "not hex") from None
    keep_key = PublicKey.parse(from_b64("keep_public_key", request.keep_public_key))
    evidence = from_b64("evidence", request.evidence)
    certificates = (
        None if request.certificates is None else from_b64("certificates", request.certificates)
    )
    unusable = cp.nonces.why_unusable(nonce, context.placement_id, context.host_id)
    if unusable:
        raise Conflict(unusable)
    now = utcnow()
    if request.format == "none":
        result = nil_result(request.report_data or "", now)
    else:  # InputError (malformed, unknown format) → 400
        result = verify_evidence(evidence, evidence_options(cp, certificates))
    expected = report_data(
        nonce,
        keep_key.encode(),
        bytes.fromhex(context.workload_digest),
        digest_bytes(context.policy_digest),
    )
    policy = evaluator(context.policy_document, advisories)
    decision = policy.evaluate(
        result, at=now, expected_report_data=expected.hex(), keep_key_suite=keep_key.suite.name
    )
    return Appraised(nonce, keep_key, evidence, result, policy, decision, now)
