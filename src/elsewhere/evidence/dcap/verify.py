"""Verify a DCAP quote against collateral, by Intel's rules, at a given time.

Work that does not depend on the quote is cached: the PCK chain by its bytes, the collateral
(signatures, chains, CRLs) by its bytes, their cross-checks by the pair, and the TCB decision by
the platform values it reads. What is left per quote: parse, two P-256 verifies, one SHA-256,
comparisons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from elsewhere.claims import EMULATED_WARNING, Failure, VerificationResult
from elsewhere.errors import ParseError
from elsewhere.evidence.dcap import tcb
from elsewhere.evidence.dcap.claims import build_claims
from elsewhere.evidence.dcap.collateral import Collateral, SignedDoc
from elsewhere.evidence.dcap.pck import PckExtensions, parse_pck_extensions
from elsewhere.evidence.dcap.quote import EnclaveReport, Quote, TdReport, parse_quote
from elsewhere.evidence.dcap.roots import (
    PCK_CAS,
    PCK_LEAF,
    ROOT_CA,
    TCB_SIGNING,
    ChainCheck,
    check_chain,
    check_crl,
    role_problem,
)

_ECDSA = ec.ECDSA(hashes.SHA256())
Window = tuple[str, dt.datetime, dt.datetime]


@dataclass(frozen=True)
class PckState:
    chain: ChainCheck
    ext: PckExtensions | None
    problem: str | None  # chain or extension problem


@dataclass(frozen=True)
class CollateralState:
    """Time-independent verdicts on one collateral bundle plus the windows to check per time."""

    failures: tuple[Failure, ...]
    windows: tuple[Window, ...]
    root: str | None  # "intel" | "emulated"
    root_crl: x509.CertificateRevocationList
    pck_crl: x509.CertificateRevocationList


def _split_pem(pem: bytes) -> tuple[bytes, ...]:
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = x509.load_pem_x509_certificates(pem.rstrip(b"\0"))
    return tuple(c.public_bytes(Encoding.DER) for c in certs)


@lru_cache(maxsize=256)
def pck_state(pem: bytes, emulated_roots: frozenset[bytes]) -> PckState:
    try:
        chain = _split_pem(pem)
    except (ValueError, x509.InvalidVersion) as error:
        empty = check_chain((), emulated_roots)
        return PckState(empty, None, f"unparseable PEM ({error})")
    checked = check_chain(chain, emulated_roots)
    if checked.problem:
        return PckState(checked, None, checked.problem)
    if problem := role_problem(checked, ((PCK_LEAF,), PCK_CAS, (ROOT_CA,))):  # QVL 4.1.2.4.4
        return PckState(checked, None, problem)
    try:
        ext = parse_pck_extensions(checked.certs[0])
    except ParseError as error:
        return PckState(checked, None, error.message)
    return PckState(checked, ext, None)


_TCB_SIGNER = ((TCB_SIGNING,), (ROOT_CA,))
_PCK_CRL_SIGNER = (PCK_CAS, (ROOT_CA,))


def _doc_state(
    name: str, doc: SignedDoc, emulated_roots: frozenset[bytes]
) -> tuple[list[Failure], ChainCheck]:
    failures = []
    chain = check_chain(doc.issuer_chain, emulated_roots)
    if chain.problem:
        failures.append(
            Failure(f"{name} issuer chain (collateral)", chain.problem, "chain to the pinned root")
        )
    elif problem := role_problem(chain, _TCB_SIGNER):
        # Any key under the root (a platform's PCK, a PCK CA) could otherwise vouch for a TCB.
        failures.append(
            Failure(f"{name} signer (collateral)", problem, "Intel SGX TCB Signing → root")
        )
    elif not _raw_signature_ok(chain.certs[0].public_key(), doc.signature, doc.body):
        failures.append(
            Failure(
                f"{name} signature (collateral)", "invalid", "ECDSA P-256 by the TCB signing key"
            )
        )
    return failures, chain


@lru_cache(maxsize=64)
def collateral_state(collateral: Collateral, emulated_roots: frozenset[bytes]) -> CollateralState:
    failures: list[Failure] = []
    windows: list[Window] = []
    roots: set[str | None] = set()
    signers: list[tuple[str, x509.Certificate]] = []
    for name, doc, info in (
        ("TCB Info", collateral.tcb_info_doc, collateral.tcb_info),
        ("QE Identity", collateral.qe_identity_doc, collateral.qe_identity),
    ):
        doc_failures, chain = _doc_state(name, doc, emulated_roots)
        failures += doc_failures
        roots.add(chain.root)
        if chain.problem is None:
            signers.append((name, chain.certs[0]))
        windows.append(
            (f"{name} issueDate/nextUpdate (collateral)", info.issue_date, info.next_update)
        )
        windows.append(
            (f"{name} issuer chain validity (collateral)", chain.not_before, chain.not_after)
        )
    pck_issuers = check_chain(collateral.pck_crl_issuer_chain, emulated_roots)
    roots.add(pck_issuers.root)
    root_crl = x509.load_der_x509_crl(collateral.root_ca_crl)
    pck_crl = x509.load_der_x509_crl(collateral.pck_crl)
    if pck_issuers.problem:
        failures.append(
            Failure(
                "PCK CRL issuer chain (collateral)", pck_issuers.problem, "chain to pinned root"
            )
        )
    elif problem := role_problem(pck_issuers, _PCK_CRL_SIGNER):
        failures.append(Failure("PCK CRL issuer chain (collateral)", problem, "a PCK CA → root"))
    else:
        for name, crl, issuer in (
            ("root CA CRL (collateral)", root_crl, pck_issuers.certs[-1]),
            ("PCK CRL (collateral)", pck_crl, pck_issuers.certs[0]),
        ):
            if problem := check_crl(crl, issuer):
                failures.append(Failure(name, problem, "signed by its issuer"))
        revoked = root_crl.get_revoked_certificate_by_serial_number
        for name, signer in signers:
            if revoked(signer.serial_number) is not None:
                failures.append(
                    Failure(f"{name} signing certificate (root CA CRL)", "revoked", "not revoked")
                )
        if revoked(pck_issuers.certs[0].serial_number) is not None:
            failures.append(Failure("PCK CA (root CA CRL)", "revoked", "not revoked"))
    for name, crl in (("root CA CRL", root_crl), ("PCK CRL", pck_crl)):
        windows.append(
            (
                f"{name} thisUpdate/nextUpdate (collateral)",
                crl.last_update_utc,
                crl.next_update_utc or dt.datetime.max.replace(tzinfo=dt.UTC),
            )
        )
    known = roots - {None}
    if len(known) > 1:
        failures.append(Failure("collateral roots", "Intel and emulation roots mixed", "one root"))
    root = known.pop() if len(known) == 1 else None
    return CollateralState(tuple(failures), tuple(windows), root, root_crl, pck_crl)


@lru_cache(maxsize=256)
def _cross_checks(
    pem: bytes, collateral: Collateral, emulated_roots: frozenset[bytes], tdx: bool
) -> tuple[Failure, ...]:
    """Checks that need both the quote's PCK chain and the collateral (Intel 4.1.2.4.4-10)."""
    pck = pck_state(pem, emulated_roots)
    state = collateral_state(collateral, emulated_roots)
    if pck.ext is None:
        return ()
    failures = []
    leaf, ca = pck.chain.certs[0], pck.chain.certs[1]
    if pck.chain.root != state.root:
        failures.append(Failure("collateral root", f"{state.root}", f"{pck.chain.root} (PCK root)"))
    if problem := check_crl(state.pck_crl, ca):
        failures.append(
            Failure(
                "PCK CRL issuer (collateral vs certification data)",
                problem,
                "the CA that issued the PCK",
            )
        )
    if state.pck_crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
        failures.append(Failure("PCK revocation (PCK CRL)", "revoked", "not revoked"))
    if state.root_crl.get_revoked_certificate_by_serial_number(ca.serial_number) is not None:
        failures.append(Failure("PCK CA revocation (root CA CRL)", "revoked", "not revoked"))
    info, qe_id = collateral.tcb_info, collateral.qe_identity
    if info.fmspc != pck.ext.fmspc:
        failures.append(
            Failure("TCB Info FMSPC (collateral vs PCK)", info.fmspc.hex(), pck.ext.fmspc.hex())
        )
    if info.pceid != pck.ext.pceid:
        failures.append(
            Failure("TCB Info PCE-ID (collateral vs PCK)", info.pceid.hex(), pck.ext.pceid.hex())
        )
    if (info.id == "TDX") != tdx or (tdx and info.version < 3):
        want = "TDX, version 3" if tdx else "SGX"
        failures.append(
            Failure(
                "TCB Info id (collateral vs quote TEE)", f"{info.id}, version {info.version}", want
            )
        )
    if qe_id.id != ("TD_QE" if tdx else "QE"):
        failures.append(
            Failure("QE Identity id (collateral vs quote TEE)", qe_id.id, "TD_QE" if tdx else "QE")
        )
    return tuple(failures)


@lru_cache(maxsize=1024)
def _public_key(point: bytes) -> ec.EllipticCurvePublicKey | None:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + point)
    except ValueError:
        return None


def _raw_signature_ok(key: object, signature: bytes, message: bytes) -> bool:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, message, _ECDSA)
    except InvalidSignature:
        return False
    return True


def _quote_crypto(quote: Quote, pck: PckState) -> list[Failure]:
    """The per-quote cryptography: QE report by the PCK, binding, quote by the attestation key."""
    failures = []
    if pck.ext is not None and not _raw_signature_ok(
        pck.chain.certs[0].public_key(), quote.qe_report_signature, quote.qe_report.raw
    ):
        failures.append(
            Failure(
                "QE report signature (QE report, by the PCK)",
                "invalid",
                "ECDSA P-256 by the PCK certificate key",
            )
        )
    binding = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest() + bytes(32)
    if quote.qe_report.report_data != binding:
        failures.append(
            Failure(
                "QE report data (SHA-256 of attestation key ‖ QE auth data)",
                quote.qe_report.report_data[:32].hex(),
                binding[:32].hex(),
            )
        )
    key = _public_key(quote.attestation_key)
    region = "header, body descriptor, body" if quote.header.version == 5 else "header, body"
    if key is None:
        failures.append(
            Failure(
                f"quote signature ({region}; attestation key)",
                "attestation key is not a P-256 point",
                "a P-256 public key",
            )
        )
    elif not _raw_signature_ok(key, quote.signature, quote.signed):
        failures.append(
            Failure(f"quote signature ({region})", "invalid", "ECDSA P-256 by the attestation key")
        )
    return failures


def verify_quote(
    data: bytes,
    collateral: Collateral,
    at: dt.datetime,
    emulated_roots: frozenset[bytes] = frozenset(),
) -> VerificationResult:
    """Verify an SGX v3 / TDX v4 / v5 quote. Malformed bytes raise ParseError (exit 2)."""
    quote = parse_quote(data)
    pck = pck_state(quote.pck_chain_pem, emulated_roots)
    state = collateral_state(collateral, emulated_roots)
    failures = list(state.failures)
    notices = []
    if pck.problem:
        failures.append(
            Failure(
                "PCK certificate chain (certification data)",
                pck.problem,
                "PCK → PCK CA → pinned root",
            )
        )
    windows = [
        *state.windows,
        (
            "PCK certificate chain validity (certification data)",
            pck.chain.not_before,
            pck.chain.not_after,
        ),
    ]
    for name, start, end in windows:
        if not start <= at <= end:
            failures.append(
                Failure(
                    name,
                    f"{at:%Y-%m-%dT%H:%M:%SZ}",
                    f"within {start:%Y-%m-%dT%H:%M:%SZ} .. {end:%Y-%m-%dT%H:%M:%SZ}",
                )
            )
    failures += _cross_checks(quote.pck_chain_pem, collateral, emulated_roots, quote.is_tdx)
    failures += _quote_crypto(quote, pck)
    status, advisories = _tcb(quote, pck.ext, collateral, failures)
    emulated = pck.chain.root == "emulated"
    if emulated:
        notices.append(EMULATED_WARNING)
    if quote.trailing:
        what = "zero padding" if quote.trailing_zero else "non-zero bytes"
        notices.append(f"{quote.trailing} bytes of {what} after the signature data, not signed")
    return VerificationResult(
        claims=build_claims(quote, pck.ext, status, advisories, emulated),
        failures=tuple(failures),
        verified_at=at,
        evidence_kind="tdx-dcap-quote" if quote.is_tdx else "sgx-dcap-quote",
        notices=tuple(notices),
    )


_Z48 = bytes(48)


def _platform_part(td: TdReport) -> TdReport:
    """The TD report fields Intel's TCB rules read, the rest zeroed, so decisions cache."""
    svn2 = td.tee_tcb_svn2
    return TdReport(
        td.tee_tcb_svn,
        _Z48,
        td.mrsignerseam,
        td.seam_attributes,
        bytes(8),
        bytes(8),
        _Z48,
        _Z48,
        _Z48,
        _Z48,
        (_Z48, _Z48, _Z48, _Z48),
        bytes(64),
        svn2,
        None if svn2 is None else _Z48,
    )


def _tcb(
    quote: Quote, ext: PckExtensions | None, collateral: Collateral, failures: list[Failure]
) -> tuple[str | None, tuple[str, ...]]:
    if ext is None:
        return None, ()
    td = _platform_part(quote.body) if isinstance(quote.body, TdReport) else None
    status, advisories, problems = _tcb_decision(collateral, ext, td, quote.qe_report)
    failures += problems
    return status, advisories


@lru_cache(maxsize=1024)
def _tcb_decision(
    collateral: Collateral, ext: PckExtensions, td: TdReport | None, qe_report: EnclaveReport
) -> tuple[str | None, tuple[str, ...], tuple[Failure, ...]]:
    """TDX module identity, QE identity and TCB level (Intel 4.1.2.4.11, 14-15, 17).

    A pure function of platform values (PCK TCB, TEE TCB SVNs, QE report, collateral), so it
    is cached: quotes from one platform share it.
    """
    info = collateral.tcb_info
    module_identity = None
    if td is not None and info.id == "TDX":
        module_identity, problem = tcb.tdx_module_check(info, td)
        if problem:
            return (
                None,
                (),
                (Failure("TDX module identity (TCB Info)", problem, "a matching module"),),
            )
    qe = tcb.qe_identity_check(qe_report, collateral.qe_identity)
    if qe.problem:
        return None, (), (Failure("QE identity (QE report vs QE Identity)", qe.problem, "a match"),)
    verdict = tcb.evaluate(info, ext.sgx_tcb_comps, ext.pcesvn, td, module_identity, qe)
    if verdict.problem:
        return None, (), (Failure("TCB level (TCB Info)", verdict.problem, "a matching TCB level"),)
    revoked = verdict.status == tcb.REVOKED
    problems = (Failure("TCB status", tcb.REVOKED, "not revoked"),) if revoked else ()
    return verdict.status, verdict.advisory_ids, problems
